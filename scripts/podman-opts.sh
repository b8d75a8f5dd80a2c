# Sourced by build-image.sh and image-walkthrough.sh: one set of podman options for both
# `podman build` and `podman run`, in the array PODMAN_ARGS.
#   PODMAN_OPTS  used as given when set (e.g. "--runtime runc --ulimit nofile=20000:20000")
# Unset, a container of IMAGE is started once to find out what this host needs: crun refuses
# hosts with hybrid cgroups ("cgroups in hybrid mode not supported") and some hosts refuse the
# default ulimits ("error setting rlimit type 7"). Then runc and explicit ulimits are used, and
# the script says so.
podman_opts() {
  local image=$1 fallback="--runtime runc --ulimit nofile=20000:20000 --ulimit nproc=8192:8192" err
  if [ -n "${PODMAN_OPTS+set}" ]; then
    read -r -a PODMAN_ARGS <<<"$PODMAN_OPTS"
    return
  fi
  PODMAN_ARGS=()
  if err=$(podman run --rm "$image" true 2>&1); then
    return
  fi
  if ! command -v runc >/dev/null; then
    echo "podman: a test container failed and runc is not installed: $err" >&2
    echo "podman: install runc (apt-get install runc) or set PODMAN_OPTS" >&2
    exit 1
  fi
  read -r -a PODMAN_ARGS <<<"$fallback"
  if ! err2=$(podman run --rm "${PODMAN_ARGS[@]}" "$image" true 2>&1); then
    echo "podman: a test container fails with the default options ($err)" >&2
    echo "podman: and with PODMAN_OPTS=\"$fallback\" ($err2); set PODMAN_OPTS for this host" >&2
    exit 1
  fi
  echo "podman: the default options fail here (${err##*: }); using PODMAN_OPTS=\"$fallback\"" \
       "(set PODMAN_OPTS to choose)" >&2
}
