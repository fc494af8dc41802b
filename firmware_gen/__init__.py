"""firmware_gen: Python that writes C (TFLM drop-in arrays, a self-contained int8 engine) and the
hand-written C runtime the engine links against."""
