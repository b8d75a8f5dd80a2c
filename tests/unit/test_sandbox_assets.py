"""The sandbox page loads only script files (ES modules), so a strict CSP can serve it."""

import re
from pathlib import Path

from waengine import sandbox

STATIC = Path(sandbox.__file__).resolve().parent / "static"
IMPORT = re.compile(r"^import \{ ([^}]*) \} from '(\./[\w/]+\.js)';$", re.M)
EXPORT = re.compile(r"^export (?:async )?(?:function\*? |class |const |let )([\w$]+)", re.M)


def test_the_page_has_no_inline_script_and_every_module_is_served_as_javascript():
    client = sandbox.create_app().test_client()
    html = client.get("/").get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all(body.strip() == "" and 'type="module"' in attrs and "src=" in attrs
                           for attrs, body in scripts)
    for path in [STATIC / "wpp.js", *sorted((STATIC / "wpp").glob("*.js"))]:
        response = client.get("/_sandbox/static/" + path.relative_to(STATIC).as_posix())
        assert response.status_code == 200 and "javascript" in response.mimetype


def test_every_import_names_a_file_that_exports_it():
    for path in [STATIC / "wpp.js", *(STATIC / "wpp").glob("*.js")]:
        for names, target in IMPORT.findall(path.read_text()):
            source = (path.parent / target).resolve()
            exported = set(EXPORT.findall(source.read_text()))
            assert {n.strip() for n in names.split(",")} <= exported, (path.name, target)
