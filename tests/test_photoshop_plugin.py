"""The Photoshop UXP plugin (clients/photoshop_uxp) against a real server on the tiny preset.

- its node --test suites: the transport (the generated Connect client over connect-web's fetch transport) against
  the server; the selection/crop/placement math; the controllers end to end with only src/photoshop/ replaced by
  an in-memory document; the packaging script;
- the generated protobuf code it ships matches protos/;
- the real panel in headless Chromium (import map: in-memory document, real server), screenshot;
- the .ccx read back by an independent zip reader.

Without `node` (or `chromium` for the panel) these skip with the reason, except under CI=true, where they fail.
"""

from __future__ import annotations

import contextlib
import filecmp
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from client_adapter_catalog import write_client_catalog
from conftest import running_server

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "clients" / "photoshop_uxp"
GENERATED = PLUGIN / "src" / "transport" / "gen"
SCREENSHOT = ROOT / "docs" / "img" / "photoshop-panel.png"
LIVE_SCREENSHOT = ROOT / "docs" / "img" / "photoshop-live.png"
TOKEN = "photoshop plugin token"
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(tool: str, why: str, how: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not on PATH ({why}; {how})"
        if CI:
            pytest.fail(f"{message}; CI is set, so this is a failure, not a skip")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def node():
    path = need("node", "the Photoshop plugin's tests run under Node 20+", "install Node 20+ with npm")
    assert (PLUGIN / "node_modules" / ".bin" / "esbuild").exists(), \
        "run: (cd clients/photoshop_uxp && npm ci) — scripts/setup.sh does it"
    return path


@pytest.fixture(scope="module")
def plugin_server(tmp_path_factory):
    # The tiny preset plus a LoRA, an embedding and a VAE (and an sdxl LoRA the sd15 menus must leave out).
    catalog = write_client_catalog(tmp_path_factory.mktemp("photoshop-catalog"))
    with running_server(tmp_path_factory.mktemp("photoshop-data"), http_port=0, token=TOKEN, models=catalog) as srv:
        yield srv


def node_summary(output: str) -> dict[str, int]:
    return {key: int(value) for key, value in re.findall(r"^# (tests|pass|fail|skipped|cancelled) (\d+)", output, re.M)}


def test_node_suites_against_a_real_server(node, plugin_server):
    suites = sorted(str(p.relative_to(PLUGIN)) for p in (PLUGIN / "test").glob("*.test.js"))
    env = {**os.environ, "DCCBRIDGE_HTTP_URL": f"http://127.0.0.1:{plugin_server.http_port}", "DCCBRIDGE_TOKEN": TOKEN}
    started = time.monotonic()
    run = subprocess.run([node, "--test", *suites], cwd=PLUGIN, env=env, capture_output=True, text=True, timeout=420)
    took = time.monotonic() - started
    summary = node_summary(run.stdout)
    print(f"node --test {' '.join(suites)}: {summary} in {took:.1f} s")
    failures = "\n".join(line for line in run.stdout.splitlines() if line.startswith("not ok"))
    assert run.returncode == 0, failures + "\n" + run.stdout[-6000:] + run.stderr[-2000:]
    assert summary.get("fail") == 0 and summary.get("skipped") == 0 and summary.get("pass", 0) >= 30, summary


def test_the_shipped_generated_code_matches_the_protos(node, tmp_path):
    """src/transport/gen is committed (the plugin builds offline without protoc); it must be what protos/ gives."""
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'protos'}",
                    f"--plugin=protoc-gen-es={PLUGIN / 'node_modules' / '.bin' / 'protoc-gen-es'}",
                    f"--es_out={tmp_path}", "--es_opt=target=js,import_extension=js",
                    *map(str, sorted((ROOT / "protos" / "dccbridge" / "v1").glob("*.proto")))], check=True)
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.js"))
    shipped = sorted(p.relative_to(GENERATED) for p in GENERATED.rglob("*.js"))
    assert fresh == shipped
    stale = [str(p) for p in fresh if not filecmp.cmp(tmp_path / p, GENERATED / p, shallow=False)]
    assert not stale, f"regenerate clients/photoshop_uxp/src/transport/gen (see docs/photoshop.md): {stale}"


def test_the_ccx_is_a_zip_with_the_manifest_at_its_root(node, tmp_path):
    run = subprocess.run([node, "scripts/package.mjs", "--out", str(tmp_path), "--server", "https://render-box:50052"],
                         cwd=PLUGIN, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    (ccx,) = tmp_path.glob("*.ccx")
    with zipfile.ZipFile(ccx) as archive:
        assert archive.testzip() is None
        names = set(archive.namelist())
        assert {"manifest.json", "index.html", "styles.css", "dist/main.js", "icons/panel.png"} <= names
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["manifestVersion"] == 5 and manifest["entrypoints"][0]["type"] == "panel"
    assert "https://render-box:50052" in manifest["requiredPermissions"]["network"]["domains"]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript",
                      ".mjs": "text/javascript"}

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve_plugin_folder():
    handler = functools.partial(QuietHandler, directory=str(PLUGIN))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def chromium(binary: str, url: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={profile}", "--virtual-time-budget=60000", *args, url],
            capture_output=True, text=True, timeout=timeout)


def test_the_panel_in_headless_chromium(node, plugin_server, tmp_path):
    """The real panel (src/, unbundled) with only src/photoshop/host.js and `uxp` mapped to in-memory fakes: it
    connects to the real server, takes the feathered selection, inpaints it with a LoRA chosen in its menu and places
    the layer exactly."""
    binary = need("chromium", "the panel screenshot", "scripts/setup_system.sh installs it as root")
    with serve_plugin_folder() as origin:
        url = (f"{origin}/test/panel/index.html?server=http://127.0.0.1:{plugin_server.http_port}"
               f"&token={TOKEN.replace(' ', '%20')}")
        dom = chromium(binary, url, "--dump-dom")
        assert "<title>done: succeeded</title>" in dom.stdout, dom.stdout[:3000] + dom.stderr[-2000:]
        result = json.loads(re.search(r'<pre id="result"[^>]*>(.*?)</pre>', dom.stdout, re.S).group(1)
                            .replace("&quot;", '"').replace("&amp;", "&"))
        assert result["server"] == "connected"
        # the Live section (src/ui/live_panel.js) is drawn, ready to start
        assert "<h2>Live</h2>" in dom.stdout and 'data-live="start"' in dom.stdout and "Live off" in dom.stdout
        assert result["layer"]["bounds"] == result["selection"] == {"left": 353, "top": 187, "width": 301, "height": 455}
        assert result["layer"]["masked"] and result["layer"]["name"] == "inpaint · seed 1234"
        assert 'Lora hashes: "style: ' in result["parameters"], "the LoRA chosen in the panel reached the server"
        # the Restore faces toggle, restorer menu and strength set in the panel reached the server
        assert "Face restoration: RestoreFormer (tiny-restoreformer), Face restoration strength: 0.6" in \
            result["parameters"], result["parameters"]
        shot = tmp_path / "panel.png"
        chromium(binary, url, "--window-size=340,1400", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, "a screenshot with content"
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (340, 1400)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert len(colours) > 200, "text and widgets were drawn"
    if os.environ.get("DCCBRIDGE_UPDATE_SCREENSHOTS"):
        shutil.copyfile(shot, SCREENSHOT)


def test_the_panel_live_in_headless_chromium(node, plugin_server, tmp_path):
    """The panel's Live section with the real live server (scene=live in test/panel/index.html): Start live on a
    feathered selection, an edit, the one Live layer updated in place at the selection; the Extend section's preview
    line for "fill beyond the selection to 16:9"; screenshot of both sections."""
    binary = need("chromium", "the panel screenshot", "scripts/setup_system.sh installs it as root")
    with serve_plugin_folder() as origin:
        url = (f"{origin}/test/panel/index.html?scene=live&server=http://127.0.0.1:{plugin_server.http_port}"
               f"&token={TOKEN.replace(' ', '%20')}")
        dom = chromium(binary, url, "--dump-dom", timeout=300)
        assert "<title>done: live live 2</title>" in dom.stdout, dom.stdout[-3000:] + dom.stderr[-2000:]
        result = json.loads(re.search(r'<pre id="result"[^>]*>(.*?)</pre>', dom.stdout, re.S).group(1)
                            .replace("&quot;", '"').replace("&amp;", "&"))
        live = result["live"]
        assert (live["sent"], live["answered"], live["placed"], live["lastFrame"]) == (2, 2, 2, 2), live
        assert result["liveLayers"] == 1 and result["layer"]["id"] == live["layerId"], "one Live layer, updated in place"
        assert result["layer"]["bounds"] == result["selection"] and result["layer"]["masked"]
        assert re.match(r"Live on harbour-concept\.psd 112×104 · frame 2 · sent 2 · answered 2 · superseded 0 · reused 0"
                        r" · latency \d+ ms \(server \d+ ms\)$", result["status"]), result["status"]
        assert result["extendInfo"] == "Selection 80 × 72 → 128 × 72 px (+24 left, +24 right)"
        shot = tmp_path / "live.png"
        chromium(binary, url, "--window-size=340,560", f"--screenshot={shot}", timeout=300)
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (340, 560)
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 200, "text and widgets were drawn"
    if os.environ.get("DCCBRIDGE_UPDATE_SCREENSHOTS"):
        shutil.copyfile(shot, LIVE_SCREENSHOT)


def test_the_panel_offers_a_reference_unit_in_headless_chromium(node, plugin_server):
    """The Reference (IP-Adapter) controls in the real panel: the Type menu offers it, the model's IP-Adapters appear
    in their own menu (and the ControlNet-only Input menu goes), and generating sends the chosen layer inside the
    selection with the chosen adapter -- as the server's record of the job shows."""
    binary = need("chromium", "the panel's reference unit", "scripts/setup_system.sh installs it as root")
    with serve_plugin_folder() as origin:
        url = (f"{origin}/test/panel/reference.html?server=http://127.0.0.1:{plugin_server.http_port}"
               f"&token={TOKEN.replace(' ', '%20')}")
        dom = chromium(binary, url, "--dump-dom")
    assert "<title>done: succeeded</title>" in dom.stdout, dom.stdout[:3000] + dom.stderr[-2000:]
    result = json.loads(re.search(r'<pre id="result"[^>]*>(.*?)</pre>', dom.stdout, re.S).group(1)
                        .replace("&quot;", '"').replace("&amp;", "&"))
    assert "reference" in result["offeredTypes"]
    assert result["offeredAdapters"] == [["", "Model's default"],
                                         ["tiny-ip-adapter-plus", "tiny-ip-adapter-plus (IP-Adapter Plus)"],
                                         ["tiny-ip-adapter", "tiny-ip-adapter (IP-Adapter)"]]
    assert not result["inputMenuShown"] and not result["previewButtonShown"]  # no control map to preview
    unit = result["unit"]
    assert (unit["type"], unit["adapterId"], unit["scope"]) == ("reference", "tiny-ip-adapter", "selection")
    [record] = result["reference"]
    assert record["adapter_id"] == "tiny-ip-adapter" and record["kind"] == "ip-adapter"
    assert 'IP-Adapter 0: "Model: tiny-ip-adapter (' in result["parameters"]
