"""edgepipe's base layer: the .tflite reader and validator, the one user-facing error type, atomic
file writes. It imports neither `pipeline` (orchestration) nor `firmware_gen` (C generation); both
import it, and `pipeline` imports `firmware_gen`, never the other way round."""
