"""The entry point of deploy/s3.Dockerfile: moto's S3 server on S3_HOST:S3_PORT (default
127.0.0.1:9000, compose.cluster.yaml's shared network namespace) with the buckets named in
S3_BUCKETS (comma-separated) created, since the gateway's snapshot store writes into an
existing bucket. Credentials are not checked: any AWS_ACCESS_KEY_ID works."""

import os
import signal
import threading

import boto3
from moto.server import ThreadedMotoServer

host, port = os.environ.get("S3_HOST", "127.0.0.1"), int(os.environ.get("S3_PORT", "9000"))
server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
server.start()
client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                      aws_access_key_id="moto", aws_secret_access_key="moto")
for bucket in filter(None, os.environ.get("S3_BUCKETS", "").split(",")):
    client.create_bucket(Bucket=bucket.strip())
print(f"s3: moto on {host}:{port}, buckets: {os.environ.get('S3_BUCKETS', '')}", flush=True)
# PID 1 ignores SIGTERM unless it handles it: stop at once on `compose down`.
stop = threading.Event()
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda *_: stop.set())
stop.wait()
server.stop()
