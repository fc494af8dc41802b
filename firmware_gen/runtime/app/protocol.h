/* The benchmark wire protocol, shared by the firmware (this file) and the host
 * (pipeline/bench/serial_link.py, which mirrors these numbers; tests check they agree).
 *
 * frame := MAGIC0 MAGIC1 type:u8 seq:u16le len:u16le payload[len] crc32:u32le
 * crc32 is CRC-32/IEEE (zlib.crc32) over type, seq, len and payload.
 *
 * Host requests and the firmware's replies (reply type = request type | 0x80, same seq):
 *   INFO  ()             -> text, the same line as the boot announcement
 *   RUN   (input bytes)  -> elapsed:u64le, output bytes
 *   RUNF  (index:u32le)  -> the same as RUN, for record `index` of the host file EP_HOST_INPUTS
 *                           (EP_MODEL_INPUT_BYTES per record), read by semihosting. Emulated boards
 *                           only: QEMU's UART takes ~15-30 KiB/s from the host, a semihosting read
 *                           is ~100x faster. Without the file (or on silicon): ERROR(EP_ERR_NO_HOST_FILE)
 *   STACK ()             -> used:u32le, size:u32le (high-water mark of the painted stack)
 *   LAYERS ()            -> count:u32le per kernel call of the last RUN/RUNF, in invoke order (the
 *                           engine's per-layer hook, one hook call's cost taken off each); empty when
 *                           the engine has no hook. Firmware older than this request answers NAK(4).
 *   RESET ()             -> () re-initialises the model's state (a streaming model's resource
 *                           variables and variable tensors: the engine's reset()). RUN/RUNF never
 *                           reset, so consecutive RUNs are the frames of one stream; the host sends
 *                           RESET before each independent sample of a stateful model. Firmware
 *                           older than this request answers NAK(4).
 *   EXIT  (code:u8)      -> () then the firmware exits with `code`
 *   FAULT ()             -> (none: executes UDF to test the fault path)
 * A frame that fails its CRC, has a length over EP_MAX_PAYLOAD, an unknown type, or stops
 * mid-frame for EP_FRAME_TIMEOUT_SPINS UART polls is answered NAK(reason:u8) and dropped; the host
 * resends it. A valid frame whose seq equals the last one handled is answered from the cached reply
 * and never run twice. */
#ifndef EP_PROTOCOL_H
#define EP_PROTOCOL_H

#define EP_MAGIC0 0xA5u
#define EP_MAGIC1 0x5Eu
#define EP_HEADER_BYTES 7u /* magic(2) type(1) seq(2) len(2) */

#define EP_REQ_INFO 0x01u
#define EP_REQ_RUN 0x02u
#define EP_REQ_STACK 0x03u
#define EP_REQ_EXIT 0x04u
#define EP_REQ_RUN_FILE 0x05u
#define EP_REQ_LAYERS 0x06u
#define EP_REQ_RESET 0x07u
#define EP_REQ_FAULT 0x7Eu
#define EP_REPLY_BIT 0x80u
#define EP_NAK 0x15u
#define EP_ERROR 0x1Fu /* payload: code:i32le (the engine's invoke() result, or one below) */
#define EP_ERR_BAD_LENGTH (-1000)   /* a RUN/RUNF payload of the wrong size */
#define EP_ERR_NO_HOST_FILE (-1001) /* RUNF: the host file cannot be read at that record */

#define EP_HOST_INPUTS "ep_inputs.bin"

#define EP_NAK_CRC 1u
#define EP_NAK_LENGTH 2u
#define EP_NAK_TIMEOUT 3u
#define EP_NAK_TYPE 4u

#endif /* EP_PROTOCOL_H */
