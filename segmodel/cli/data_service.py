"""Run a tf.data service dispatcher or worker (TensorFlow's own servers) until interrupted.

  python tools/data_service.py dispatcher --port 5050
  python tools/data_service.py worker --dispatcher trainer-host:5050 --port 5051 \
      --worker-address cpu-host-1:5051
  # then, on the trainer:
  python tools/train.py --records /shared/records --output-dir runs/svc \
      --data-service grpc://trainer-host:5050

Workers read the records themselves: the records folder must be at the same path on every
worker (a shared filesystem or gs://), and segkit must be installed there (pip install segkit).
"""

import argparse
import sys


def build_parser():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    roles = p.add_subparsers(dest="role", required=True, metavar="{dispatcher,worker}")
    d = roles.add_parser("dispatcher", help="hand out work to workers, tell trainers where to read")
    d.add_argument("--port", type=int, default=5050, help="port to listen on (default 5050)")
    d.add_argument("--work-dir", default=None,
                   help="folder for the dispatcher's journal (with --fault-tolerant)")
    d.add_argument("--fault-tolerant", action="store_true",
                   help="journal state to --work-dir so a restarted dispatcher resumes its jobs")
    w = roles.add_parser("worker", help="read, decode and batch records for the trainers")
    w.add_argument("--dispatcher", required=True, help="dispatcher address HOST:PORT")
    w.add_argument("--port", type=int, default=5051, help="port to serve data on (default 5051)")
    w.add_argument("--worker-address", default=None,
                   help="HOST:PORT under which trainers reach this worker (default "
                        "localhost:PORT, only right when everything runs on one machine)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.role == "dispatcher" and args.fault_tolerant and not args.work_dir:
        print("error: --fault-tolerant needs --work-dir (where the journal is kept)",
              file=sys.stderr)
        return 2
    from segdata.input import service  # after --help: TensorFlow is slow to import

    try:
        if args.role == "dispatcher":
            server = service.start_dispatcher(args.port, args.work_dir, args.fault_tolerant)
            print(f"tf.data service dispatcher at {server.target}", flush=True)
        else:
            server = service.start_worker(args.dispatcher, args.port, args.worker_address)
            print(f"tf.data service worker on port {args.port}, dispatcher {args.dispatcher}",
                  flush=True)
    except Exception as err:  # noqa: BLE001  (a busy port, a bad address: say it plainly)
        print(f"error: cannot start the {args.role}: {err}", file=sys.stderr)
        return 2
    try:
        server.join()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
