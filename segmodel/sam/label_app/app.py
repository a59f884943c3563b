"""Start the labelling page: load SAM, encode the first image to do, serve, print the URL.

    from segmodel.sam.label_app.app import start
    server = start("photos/", "labelled/", "sam_base_sa1b", port=0)   # serving in a thread
    print(server.url)                                                  # http://127.0.0.1:.../?token=...
    ...
    stop(server)
"""

import json
import os
import threading
import urllib.request
import webbrowser

from segmodel.sam.label_app.server import TOKEN_HEADER, LabelServer
from segmodel.sam.label_app.session import LabelSession

LAYOUTS = ("pets", "masks")


def resolve_layout(classes, layout):
    """The output layout: "masks" for several classes (or when asked), else "pets".

    Raises:
      ValueError: an unknown layout, or several classes in the one-class Pets layout.
    """
    if layout is None:
        return "masks" if classes is not None and len(classes) > 1 else "pets"
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}.")
    if layout == "pets" and classes is not None and len(classes) > 1:
        raise ValueError(f"--layout pets holds one class, got {len(classes)} "
                         f"{list(classes.names)}; use --layout masks.")
    return layout


def start(images_dir, output_dir, predictor, host="127.0.0.1", port=8765, outline_width=2,
          dtype=None, token=None, encoder="thread", classes=None, layout=None, ignore_width=0,
          refresh_seconds=0, model=None, min_area=0, order="name"):
    """Serve a labelling session from a background thread; returns the `LabelServer`.

    Returns once the first image still to do is encoded and the server has answered a
    request, so the first click on the page is as fast as the others.

    Args:
      predictor: a `SamPredictor`, or a preset name / folder for `SamPredictor.from_preset`.
      port: 0 picks a free port (see `server.url`).
      dtype: the encoder precision when `predictor` is a preset.
      encoder: "thread" (the image encoder runs in this process) or "process" (in a
        low-priority process of its own, so clicks do not wait for a background encoding;
        needs `predictor` as a preset, loaded there a second time).
      classes: a `ClassList` (see `segmodel.sam.labelling.classes.parse_classes`) or None.
      layout: "pets" (a trimap of the objects' union; default without classes or with one)
        or "masks" (a class id per pixel + COCO instances; default with several classes;
        without `classes` it reads OUT/classes.json).
      ignore_width, refresh_seconds: the "masks" layout's (`ClassLabelSession`).
      model: None, or a trained segkit model for pre-labels (a `ModelRunner` or a path for
        `segmodel.serving.runtimes.load_runner`); needs the "masks" layout, its classes must
        be the folder's (without `classes` and OUT/classes.json: the model's).
      min_area, order: `ClassLabelSession`'s ("uncertainty" needs `model`).
    """
    if model is not None:
        from segmodel.sam.labelling.prelabels import model_classes

        model, classes = model_classes(model, output_dir, classes)
        if layout == "pets":
            raise ValueError("--model pre-labels with the model's classes, in the masks layout; "
                             "drop --layout pets.")
        layout = "masks"
    layout = resolve_layout(classes, layout)
    if order != "name" and model is None:
        raise ValueError("--order uncertainty needs --model: the model's uncertainty orders "
                         "the queue.")
    if encoder not in ("thread", "process"):
        raise ValueError(f'encoder must be "thread" or "process", got {encoder!r}.')
    if encoder == "process" and not isinstance(predictor, (str, os.PathLike)):
        raise ValueError('encoder="process" needs the preset name or folder, not a '
                         "loaded SamPredictor: the encoder process loads it itself.")
    # Bind first: a busy port is reported before minutes of model loading, not after.
    try:
        server = LabelServer(None, host=host, port=port, token=token)
    except OSError as err:
        raise OSError(f"Cannot serve on {host}:{port} ({err.strerror or err}); pick "
                      "another --port, or --port 0 for a free one.") from None
    process_encoder = session = None
    try:
        if encoder == "process":
            from segmodel.sam.label_app.encoder_process import ProcessEncoder

            process_encoder = ProcessEncoder(predictor, dtype=dtype)  # loads while we load
        if isinstance(predictor, (str, os.PathLike)):
            from segmodel.sam.prompting.predictor import SamPredictor

            predictor = SamPredictor.from_preset(predictor, dtype=dtype)
        if layout == "masks":
            from segmodel.sam.label_app.classes_session import ClassLabelSession

            session = ClassLabelSession(images_dir, output_dir, predictor, classes=classes,
                                        ignore_width=ignore_width,
                                        refresh_seconds=refresh_seconds,
                                        encoder=process_encoder, model=model,
                                        min_area=min_area, order=order)
        else:
            session = LabelSession(images_dir, output_dir, predictor,
                                   outline_width=outline_width, encoder=process_encoder,
                                   classes=classes)
        session.warm_up()
    except BaseException:
        if session is not None:
            session.close()
        elif process_encoder is not None:
            process_encoder.close()
        server.server_close()
        raise
    server.session = session
    thread = threading.Thread(target=server.serve_forever, name="label-server", daemon=True)
    thread.start()
    server.thread = thread
    request = urllib.request.Request(_local_url(server, "/api/images"),
                                     headers={TOKEN_HEADER: server.token})
    with urllib.request.urlopen(request, timeout=60) as answer:
        json.load(answer)
    return server


def _local_url(server, path):
    host, port = server.server_address[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


def stop(server):
    """Stop serving and the background encoder."""
    server.shutdown()
    server.server_close()
    server.session.close()


def serve(images_dir, output_dir, predictor, open_browser=False, **kwargs):
    """`start`, print the URL on a line of its own, serve until Ctrl+C."""
    server = start(images_dir, output_dir, predictor, **kwargs)
    try:
        print_accepts(server.session)
        progress = server.session.progress()
        print(f"{progress['labelled']} / {progress['total']} labelled; open the page:",
              flush=True)
        print(server.url, flush=True)
        if open_browser:
            webbrowser.open(server.url)
        server.thread.join()
    finally:
        stop(server)
        print_accepts(server.session)


def print_accepts(session):
    """Print, per class, how the accepted images came: as pre-labelled, edited, from scratch
    (the masks layout's accept records; nothing for the Pets layout or no records)."""
    if not hasattr(session, "accept_summary"):
        return
    from segmodel.sam.labelling.prelabels import format_summary

    summary = session.accept_summary()
    if any(summary["all"].values()):
        print("\n".join(format_summary(summary)), flush=True)
