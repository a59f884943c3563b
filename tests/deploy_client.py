"""A deployment client that knows nothing of segkit: runs a .tflite with ai_edge_litert or an
.onnx with onnxruntime, as a phone app or a C++ service would (tests run it in a subprocess).

    python deploy_client.py MODEL IMAGES.npz OUT.npz
IMAGES.npz "images": uint8 [N, H, W, 3] RGB at the model's input size, and optionally "sizes"
int [N, 2], each photo's own (height, width). OUT.npz gets float32 "probabilities" [N, H, W, C]
and, with sizes, "mask_I" uint8 [h, w] per photo: the probabilities resized to its size as the
metadata's "postprocessing" says (NumPy only), then the arg-max. stdout is the segkit.json the
file carries in its own metadata.
"""

import json
import pathlib
import subprocess
import sys

import numpy as np


def run_client(model_file, images, tmp_path, sizes=None):
    """(probabilities, embedded metadata) of this script run in a fresh process (for tests);
    with `sizes`, (probabilities, metadata, [mask at each size])."""
    np.savez(tmp_path / "images.npz", images=images,
             **({} if sizes is None else {"sizes": np.asarray(sizes)}))
    proc = subprocess.run([sys.executable, str(pathlib.Path(__file__)), str(model_file),
                           str(tmp_path / "images.npz"), str(tmp_path / "out.npz")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out, metadata = np.load(tmp_path / "out.npz"), json.loads(proc.stdout.strip().splitlines()[-1])
    if sizes is None:
        return out["probabilities"], metadata
    return out["probabilities"], metadata, [out[f"mask_{i}"] for i in range(len(sizes))]


def resize_bilinear(probabilities, size):
    """float32 [h, w, C] -> [H, W, C] in NumPy: bilinear with half-pixel centres and clamped
    edges (tf.image.resize's bilinear, cv2.INTER_LINEAR), as segkit.json's "postprocessing"
    asks before the arg-max. docs/guide/deploy.md shows this function."""
    def taps(n_in, n_out):
        # float32 positions, as TensorFlow computes them (float64 ones differ by ~1e-5)
        scale = np.float32(n_in) / np.float32(n_out)
        pos = np.clip((np.arange(n_out, dtype=np.float32) + 0.5) * scale - 0.5, 0, n_in - 1)
        low = np.floor(pos).astype(int)
        return low, np.minimum(low + 1, n_in - 1), (pos - low).astype(np.float32)

    y0, y1, wy = taps(probabilities.shape[0], size[0])
    x0, x1, wx = taps(probabilities.shape[1], size[1])
    rows = probabilities[y0] * (1 - wy)[:, None, None] + probabilities[y1] * wy[:, None, None]
    return rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]


def run_litert(path, images):
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(inp["index"], list(images.shape))
    interpreter.allocate_tensors()
    scale, zero_point = inp["quantization"]
    feed = images.astype(np.float32)
    if scale:  # a quantized input: real = scale * (q - zero_point)
        info = np.iinfo(inp["dtype"])
        feed = np.clip(np.round(feed / scale + zero_point), info.min, info.max)
    interpreter.set_tensor(inp["index"], feed.astype(inp["dtype"]))
    interpreter.invoke()
    result = interpreter.get_tensor(out["index"])
    scale, zero_point = out["quantization"]
    if scale:
        result = (result.astype(np.float32) - zero_point) * scale
    model = schema.Model.GetRootAs(open(path, "rb").read(), 0)
    metadata = None
    for i in range(model.MetadataLength()):
        if model.Metadata(i).Name() == b"segkit.json":
            metadata = json.loads(model.Buffers(model.Metadata(i).Buffer()).DataAsNumpy()
                                  .tobytes())
    return result.astype(np.float32), metadata


def run_onnx(path, images):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    feed = images.astype(np.uint8 if inp.type == "tensor(uint8)" else np.float32)
    step = inp.shape[0] if isinstance(inp.shape[0], int) else len(feed)  # a fixed batch size
    result = np.concatenate([session.run(None, {inp.name: feed[i:i + step]})[0]
                             for i in range(0, len(feed), step)])
    props = session.get_modelmeta().custom_metadata_map
    return result.astype(np.float32), json.loads(props["segkit.json"])


if __name__ == "__main__":
    model_path, images_path, out_path = sys.argv[1:4]
    given = np.load(images_path)
    run = run_litert if model_path.endswith(".tflite") else run_onnx
    probabilities, metadata = run(model_path, given["images"])
    masks = {f"mask_{i}": resize_bilinear(p, size).argmax(-1).astype(np.uint8)
             for i, (p, size) in enumerate(zip(probabilities, given.get("sizes", [])))}
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("segmodel", "segdata",
                                                                 "tensorflow", "keras"))
    assert not leaked, f"the client imported {leaked[:5]}"
    np.savez(out_path, probabilities=probabilities, **masks)
    print(json.dumps(metadata))
