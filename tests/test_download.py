"""download_pets against a loopback HTTP server (127.0.0.1 only) serving generated archives."""

import hashlib
import http.server
import io
import tarfile
import threading

import pytest

from segdata.formats.pets.layout import scan_pets
from segdata.io.download import DownloadError, download_pets
from segdata.synthetic.pets import make_sample_data


class _Server:
    """Serves `files` (name -> bytes) with Range support; `cut_next` truncates one response."""

    def __init__(self):
        self.files, self.requests, self.cut_next = {}, [], False
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                rng = self.headers.get("Range")
                owner.requests.append((name, rng))
                if name not in owner.files:
                    self.send_error(404)
                    return
                data, start = owner.files[name], 0
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if owner.cut_next:  # drop the connection half-way, as a flaky network does
                    owner.cut_next = False
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/pets"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def _tar(entries):
    """entries: list of (tarinfo-modifier or None, name, bytes) -> tar.gz bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = make_sample_data(tmp_path_factory.mktemp("src") / "pets", 4, seed=2, min_side=32,
                            max_side=48)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    pack = lambda top: _tar([(p.relative_to(root).as_posix(), p.read_bytes(), "file")
                             for p in files if p.relative_to(root).parts[0] == top])
    return {"images.tar.gz": pack("images"), "annotations.tar.gz": pack("annotations")}


def _sums(files):
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def test_download_verify_extract_and_rerun(server, archives, tmp_path):
    server.files.update(archives)
    out = download_pets(tmp_path / "pets", server.url, checksums=_sums(archives), progress=False)
    layout = scan_pets(out)
    assert len(layout.image_names) == 4 and "list.txt" in layout.lists
    assert (out / "images.tar.gz").read_bytes() == archives["images.tar.gz"]
    before = len(server.requests)
    download_pets(out, server.url, checksums=_sums(archives), progress=False)
    assert len(server.requests) == before  # verified and extracted: nothing fetched again


def test_resumes_a_partial_download(server, archives, tmp_path):
    server.files.update(archives)
    out = tmp_path / "pets"
    out.mkdir()
    data = archives["images.tar.gz"]
    (out / "images.tar.gz.part").write_bytes(data[:1000])
    download_pets(out, server.url, checksums=_sums(archives), progress=False)
    assert ("images.tar.gz", "bytes=1000-") in server.requests
    assert (out / "images.tar.gz").read_bytes() == data
    assert not (out / "images.tar.gz.part").exists()


def test_connection_lost_then_rerun_resumes(server, archives, tmp_path):
    server.files.update(archives)
    server.cut_next = True
    out = tmp_path / "pets"
    with pytest.raises(DownloadError, match="rerun to resume"):
        download_pets(out, server.url, checksums=_sums(archives), progress=False, timeout=10)
    assert (out / "annotations.tar.gz.part").exists() or (out / "images.tar.gz.part").exists()
    download_pets(out, server.url, checksums=_sums(archives), progress=False, timeout=10)
    assert any(rng for _, rng in server.requests)  # the second run asked for the rest only
    assert len(scan_pets(out).image_names) == 4


def test_bad_checksum_is_refused_and_deleted(server, archives, tmp_path):
    server.files.update(archives)
    sums = _sums(archives)
    sums["images.tar.gz"] = "0" * 64
    out = tmp_path / "pets"
    with pytest.raises(DownloadError, match="does not match"):
        download_pets(out, server.url, checksums=sums, progress=False)
    assert not (out / "images.tar.gz").exists() and not (out / "images.tar.gz.part").exists()
    assert not (out / "images").exists()


@pytest.mark.parametrize("evil", [
    [("../escaped.txt", b"pwned", "file")],
    [("/tmp/segkit_abs_escape.txt", b"pwned", "file")],
    [("images/link", "../../escaped_target", "symlink"), ("images/link/escaped.txt", b"x", "file")],
])
def test_path_traversal_archive_is_refused(server, tmp_path, evil):
    bad = _tar([("images/ok.jpg", b"fine", "file")] + evil)
    server.files["images.tar.gz"] = bad
    out = tmp_path / "a" / "pets"
    with pytest.raises(DownloadError, match="unsafe"):
        download_pets(out, server.url, checksums={"images.tar.gz": hashlib.sha256(bad).hexdigest()},
                      progress=False)
    assert not (tmp_path / "a" / "escaped.txt").exists()
    assert not (tmp_path / "escaped_target").exists()
    assert not (out / "images").exists()  # nothing half-extracted


def test_unreachable_server_is_a_clear_error(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_pets(tmp_path / "p", server.url + "/missing", progress=False)
