"""A deployment client that knows nothing of segkit: runs a .tflite with ai_edge_litert or an
.onnx with onnxruntime, as a phone app or a C++ service would (tests run it in a subprocess).

    python deploy_client.py MODEL IMAGES.npz OUT.npz
IMAGES.npz "images": uint8 [N, H, W, 3] RGB at the model's input size. OUT.npz gets float32
"probabilities" [N, H, W, C]; stdout is the segkit.json the file carries in its own metadata.
"""

import json
import sys

import numpy as np


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
    feed = images.astype(np.uint8 if session.get_inputs()[0].type == "tensor(uint8)"
                         else np.float32)
    result = session.run(None, {session.get_inputs()[0].name: feed})[0]
    props = session.get_modelmeta().custom_metadata_map
    return result.astype(np.float32), json.loads(props["segkit.json"])


if __name__ == "__main__":
    model_path, images_path, out_path = sys.argv[1:4]
    images = np.load(images_path)["images"]
    run = run_litert if model_path.endswith(".tflite") else run_onnx
    probabilities, metadata = run(model_path, images)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("segmodel", "segdata",
                                                                 "tensorflow", "keras"))
    assert not leaked, f"the client imported {leaked[:5]}"
    np.savez(out_path, probabilities=probabilities)
    print(json.dumps(metadata))
