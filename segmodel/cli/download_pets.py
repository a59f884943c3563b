"""Download the Oxford-IIIT Pet archives, verify their SHA-256 and extract them.

  python tools/download_pets.py --output-dir data/pets [--base-url URL] [--no-keep-archives]

Resumes a partial download when rerun. Leaves OUTPUT/images and OUTPUT/annotations, ready for
`python tools/build_records.py --data-dir OUTPUT --output-dir RECORDS`.
Exit status: 0 success, 1 download/checksum/extraction failure, 2 usage.
"""

import argparse
import sys


def main(argv=None):
    from segdata.io.download import OFFICIAL_BASE_URL, DownloadError, download_pets

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--output-dir", required=True, help="folder for images/ and annotations/")
    p.add_argument("--base-url", default=OFFICIAL_BASE_URL,
                   help="folder URL holding images.tar.gz and annotations.tar.gz "
                        "(default: %(default)s)")
    p.add_argument("--timeout", type=float, default=60, help="network timeout in seconds")
    p.add_argument("--no-keep-archives", action="store_true",
                   help="delete the .tar.gz files after extracting them")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    try:
        out = download_pets(args.output_dir, args.base_url, timeout=args.timeout,
                            keep_archives=not args.no_keep_archives,
                            progress=not args.no_progress)
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"Pets data ready in {out} (images/, annotations/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
