"""Models the detection service can run: the registry, Darknet/YOLOX model code, the shared
pre/post-processing and the ONNX export.

Nothing here imports PyTorch or onnxruntime at import time; the modules that need them
(``darknet_torch``, ``export``) are imported only by the backends and tools that use them.
"""
