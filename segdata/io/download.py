"""Download and extract the Oxford-IIIT Pet archives: resumable, checksummed, safely extracted.

`download_pets(DIR)` leaves DIR/images/ and DIR/annotations/ (the layout segdata.formats.pets.layout
reads) plus the verified archives. Rerunning is cheap: verified archives are not fetched
again, a partial `NAME.part` resumes with an HTTP Range request, extraction is skipped once
done. Nothing half-done looks finished: downloads land in `.part` files and are renamed only
after their SHA-256 matches; archives extract into a temporary folder first, with tarfile's
"data" filter, which refuses absolute paths, `..`, links leaving the folder and device files.
"""

import http.client
import os
import pathlib
import shutil
import sys
import tarfile
import urllib.error
import urllib.request

from segdata.io.fsio import sha256_file

# The official host, as used by TFDS (tensorflow_datasets/datasets/oxford_iiit_pet); the
# chapter's older address https://www.robots.ox.ac.uk/~vgg/data/pets/data serves the same files.
OFFICIAL_BASE_URL = "https://thor.robots.ox.ac.uk/~vgg/data/pets"
OFFICIAL_CHECKSUMS = {
    "images.tar.gz": "67195c5e1c01f1ab5f9b6a5d22b8c27a580d896ece458917e61d459337fa318d",
    "annotations.tar.gz": "52425fb6de5c424942b7626b428656fcbd798db970a937df61750c0f1d358e91",
}


class DownloadError(RuntimeError):
    """A download or extraction failed; the message names the file and what to do."""


def _fetch(url, part, timeout, progress):
    """Append the rest of `url` to `part` (resuming when the server honours Range)."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "segkit"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: the part is already complete
            return
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}; check --base-url") from None
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"{url}: cannot connect ({getattr(e, 'reason', e)}); check the "
                            "network or --base-url, then rerun to resume") from None
    with response:
        resumed = have and response.status == 206
        mode = "ab" if resumed else "wb"  # a 200 reply to a Range request is the whole file
        start = have if resumed else 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        from tqdm.auto import tqdm

        with open(part, mode) as fh, tqdm(total=total, initial=start, unit="B", unit_scale=True,
                                           desc=part.name[:-len(".part")], disable=not progress,
                                           file=sys.stderr) as bar:
            try:
                for block in iter(lambda: response.read(1 << 20), b""):
                    fh.write(block)
                    bar.update(len(block))
            except (OSError, http.client.HTTPException) as e:
                raise DownloadError(f"{url}: connection lost after {fh.tell()} bytes ({e}); "
                                    "rerun to resume") from None
            # http.client returns a short body without error when the peer closes early.
            if total is not None and fh.tell() < total:
                raise DownloadError(f"{url}: connection lost after {fh.tell()} of {total} "
                                    "bytes; rerun to resume")


def download_archive(url, dest, sha256, *, timeout=60, progress=True):
    """Download `url` to `dest` (pathlib.Path) unless a verified copy is there; returns dest.

    Raises DownloadError on network failure (the .part file is kept for resuming) or on a
    checksum mismatch (the bad file is deleted, so a rerun starts afresh).
    """
    if dest.exists() and sha256_file(dest) == sha256:
        return dest
    part = dest.with_name(dest.name + ".part")
    if dest.exists():  # a complete file with the wrong sum: never trust or resume it
        dest.unlink()
    _fetch(url, part, timeout, progress)
    got = sha256_file(part)
    if got != sha256:
        part.unlink()
        raise DownloadError(f"{dest.name}: SHA-256 {got} does not match the expected {sha256}; "
                            "the download was corrupt or the server sent another file. It was "
                            "deleted; rerun to download it again, or check --base-url")
    os.replace(part, dest)
    return dest


def _strict_filter(member, dest):
    # tarfile's "data" filter would quietly strip a leading "/"; a genuine Pets archive never
    # has absolute or ".." names, so such an archive is refused outright.
    if member.name.startswith(("/", "\\")) or ".." in pathlib.PurePosixPath(member.name).parts:
        raise tarfile.OutsideDestinationError(member, member.name)
    return tarfile.data_filter(member, dest)


def safe_extract(archive, output_dir):
    """Extract a tar archive into output_dir, refusing any member that would land outside it.

    Members go to a temporary folder first, then each top-level entry is moved into place,
    so a refused or broken archive leaves output_dir as it was.
    """
    output_dir = pathlib.Path(output_dir)
    tmp = output_dir / f".extract-{archive.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter=_strict_filter)
        for entry in sorted(tmp.iterdir()):
            target = output_dir / entry.name
            if target.is_dir() and entry.is_dir():
                _merge(entry, target)
            else:
                os.replace(entry, target)
    except tarfile.FilterError as e:
        raise DownloadError(f"{archive.name}: refused unsafe member ({e}); nothing was "
                            "extracted. The archive is not a genuine Pets archive") from None
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DownloadError(f"{archive.name}: cannot extract ({e}); delete it and rerun") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _merge(src, dst):
    """Move the contents of folder src into existing folder dst (both archives share nothing,
    but a rerun after a crash may find a folder from an earlier extraction)."""
    for entry in src.iterdir():
        target = dst / entry.name
        if target.is_dir() and entry.is_dir():
            _merge(entry, target)
        else:
            os.replace(entry, target)


def download_pets(output_dir, base_url=OFFICIAL_BASE_URL, *, checksums=None, timeout=60,
                  keep_archives=True, progress=True):
    """Download, verify and extract images.tar.gz and annotations.tar.gz into output_dir.

    Args:
      output_dir: folder to fill with images/ and annotations/ (created if needed).
      base_url: where `images.tar.gz` and `annotations.tar.gz` live (no trailing file name).
      checksums: {archive name: hex SHA-256}; defaults to the official archives' sums.
      keep_archives: keep the verified .tar.gz files (a rerun then skips the download).
    Returns:
      output_dir as pathlib.Path.
    """
    output_dir = pathlib.Path(output_dir).expanduser()
    output_dir.mkdir(parents=True, exist_ok=True)
    checksums = dict(OFFICIAL_CHECKSUMS if checksums is None else checksums)
    for name, sha256 in checksums.items():
        stamp = output_dir / f".{name}.extracted"
        if stamp.exists() and stamp.read_text().strip() == sha256:
            continue
        archive = download_archive(f"{base_url.rstrip('/')}/{name}", output_dir / name, sha256,
                                   timeout=timeout, progress=progress)
        safe_extract(archive, output_dir)
        stamp.write_text(sha256 + "\n")
        if not keep_archives:
            archive.unlink()
    return output_dir
