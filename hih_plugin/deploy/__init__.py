"""Export top-down models to ONNX with decoding inside, and run them."""
