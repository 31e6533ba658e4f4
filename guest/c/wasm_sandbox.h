/*
 * wasm_sandbox.h: the guest side of wasm-sandbox's structured-call ABI, v1 (docs/guest-abi.md),
 * for C compiled to wasm32 (clang --target=wasm32-wasi, or wasm32 with any malloc).
 *
 *   #include "wasm_sandbox.h"
 *
 *   WS_DATA_FUNCTION(echo) {            // exported as "wsdata:echo"
 *     return ws_ok(input, input_len);   // or ws_error("why") / ws_error_code("E_CODE", "why")
 *   }
 *
 * Including the header in one translation unit also defines the ABI's own exports (the version
 * marker, wsdata:alloc and wsdata:free); define WASM_SANDBOX_NO_RUNTIME before including it in any
 * other unit. The optional MemoryChannel (two ring buffers shared with the host) is enabled with
 * WS_CHANNEL(inbox_bytes, outbox_bytes) and WS_CHANNEL_PUMP { ... }.
 */
#ifndef WASM_SANDBOX_H
#define WASM_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WS_EXPORT(name) __attribute__((export_name(name)))
#define WS_IMPORT(module, name) __attribute__((import_module(module), import_name(name)))

/* A data function's result: pointer in the low word, length in bits 32-62, error flag in bit 63. */
typedef uint64_t ws_result;
#define WS_ERROR_FLAG (UINT64_C(1) << 63)

static inline ws_result ws__pack(const void *ptr, uint32_t len, int is_error) {
  return ((uint64_t)(len & 0x7fffffffu) << 32) | (uint64_t)(uintptr_t)ptr | (is_error ? WS_ERROR_FLAG : 0);
}

/* Returns `len` bytes the guest already allocated with malloc; the host frees them after copying. */
static inline ws_result ws_ok_owned(void *buffer, size_t len) {
  return len == 0 ? (free(buffer), ws__pack(0, 0, 0)) : ws__pack(buffer, (uint32_t)len, 0);
}

/* Returns a copy of `len` bytes. */
static inline ws_result ws_ok(const void *data, size_t len) {
  if (len == 0) return ws__pack(0, 0, 0);
  void *copy = malloc(len);
  if (!copy) return ws__pack(0, 0, 1);
  memcpy(copy, data, len);
  return ws__pack(copy, (uint32_t)len, 0);
}

static inline ws_result ws_ok_str(const char *text) { return ws_ok(text, strlen(text)); }

/* Appends `text` to `out` as the inside of a JSON string. `out` needs 6 bytes per input byte. */
static inline size_t ws__json_escape(char *out, const char *text) {
  static const char hex[] = "0123456789abcdef";
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    if (*p == '"' || *p == '\\') { out[n++] = '\\'; out[n++] = (char)*p; }
    else if (*p < 0x20) { out[n++] = '\\'; out[n++] = 'u'; out[n++] = '0'; out[n++] = '0'; out[n++] = hex[*p >> 4]; out[n++] = hex[*p & 15]; }
    else out[n++] = (char)*p;
  }
  return n;
}

/* An error report the host raises as GuestError, with `code` as its guestCode (NULL for none). */
static inline ws_result ws_error_code(const char *code, const char *message) {
  size_t need = 32 + 6 * (strlen(message) + (code ? strlen(code) : 0));
  char *out = malloc(need);
  if (!out) return ws__pack(0, 0, 1);
  size_t n = 0;
  memcpy(out + n, "{\"message\":\"", 12); n += 12;
  n += ws__json_escape(out + n, message);
  out[n++] = '"';
  if (code) {
    memcpy(out + n, ",\"code\":\"", 9); n += 9;
    n += ws__json_escape(out + n, code);
    out[n++] = '"';
  }
  out[n++] = '}';
  return ws__pack(out, (uint32_t)n, 1);
}

static inline ws_result ws_error(const char *message) { return ws_error_code(NULL, message); }

/*
 * Defines a data function. The body sees `input` (valid until it returns) and `input_len`, and
 * returns a ws_result. The input buffer is freed after the body returns, unless the body handed
 * it back with ws_ok_owned((void *)input, input_len).
 */
#define WS_DATA_FUNCTION(name)                                                               \
  static ws_result ws__body_##name(const uint8_t *input, size_t input_len);                  \
  WS_EXPORT("wsdata:" #name) ws_result ws__export_##name(uint8_t *ptr, uint32_t len) {       \
    ws_result r = ws__body_##name(ptr, len);                                                 \
    if (ptr && (uintptr_t)(uint32_t)r != (uintptr_t)ptr) free(ptr);                          \
    return r;                                                                                \
  }                                                                                          \
  static ws_result ws__body_##name(const uint8_t *input, size_t input_len)

#ifndef WASM_SANDBOX_NO_RUNTIME
WS_EXPORT("wsdata:abi_v1") void ws__abi_v1(void) {}
WS_EXPORT("wsdata:alloc") void *ws__alloc(uint32_t size) { return malloc(size ? size : 1); }
WS_EXPORT("wsdata:free") void ws__free(void *ptr, uint32_t size) { (void)size; free(ptr); }
#endif

/* ---- MemoryChannel: two rings in guest memory, the host writes the inbox and reads the outbox ---- */

/* Control block: u32 words, little-endian. Indices run freely and wrap at 2^32; capacities are powers of two. */
enum {
  WS_CH_MAGIC = 0, WS_CH_VERSION = 1, WS_CH_IN_CAP = 2, WS_CH_OUT_CAP = 3,
  WS_CH_IN_HEAD = 4, WS_CH_IN_TAIL = 5, WS_CH_OUT_HEAD = 6, WS_CH_OUT_TAIL = 7, WS_CH_FLAGS = 8,
  WS_CH_HEADER_BYTES = 64,
};
#define WS_CH_MAGIC_VALUE 0x48435357u /* "WSCH" */
#define WS_CH_WANTS_PUMP 1u          /* set by the guest when its outbox was full: pump me after draining it */

typedef struct {
  volatile uint32_t *header;
  uint8_t *inbox;
  uint8_t *outbox;
} ws_channel_t;

static ws_channel_t ws__channel;

static inline void ws__ring_copy_out(const uint8_t *ring, uint32_t cap, uint32_t at, void *dst, uint32_t n) {
  uint32_t pos = at & (cap - 1), first = cap - pos < n ? cap - pos : n;
  memcpy(dst, ring + pos, first);
  memcpy((uint8_t *)dst + first, ring, n - first);
}

static inline void ws__ring_copy_in(uint8_t *ring, uint32_t cap, uint32_t at, const void *src, uint32_t n) {
  uint32_t pos = at & (cap - 1), first = cap - pos < n ? cap - pos : n;
  memcpy(ring + pos, src, first);
  memcpy(ring, (const uint8_t *)src + first, n - first);
}

/* Sends one message to the host: 0 when queued, -1 when the outbox is full (try again on a later pump), -2 when it can never fit. */
static inline int ws_channel_send(const void *data, uint32_t len) {
  volatile uint32_t *h = ws__channel.header;
  uint32_t cap = h[WS_CH_OUT_CAP];
  if ((uint64_t)len + 4 > cap) return -2;
  uint32_t tail = h[WS_CH_OUT_TAIL], used = tail - h[WS_CH_OUT_HEAD];
  if (cap - used < len + 4) { h[WS_CH_FLAGS] |= WS_CH_WANTS_PUMP; return -1; }
  uint8_t frame[4] = { (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24) };
  ws__ring_copy_in(ws__channel.outbox, cap, tail, frame, 4);
  ws__ring_copy_in(ws__channel.outbox, cap, tail + 4, data, len);
  h[WS_CH_OUT_TAIL] = tail + 4 + len; /* published last: the host never sees half a message */
  return 0;
}

/* Length of the next message from the host, or -1 when the inbox is empty. */
static inline int32_t ws_channel_peek(void) {
  volatile uint32_t *h = ws__channel.header;
  uint32_t head = h[WS_CH_IN_HEAD];
  if (h[WS_CH_IN_TAIL] == head) return -1;
  uint8_t frame[4];
  ws__ring_copy_out(ws__channel.inbox, h[WS_CH_IN_CAP], head, frame, 4);
  return (int32_t)(frame[0] | frame[1] << 8 | frame[2] << 16 | (uint32_t)frame[3] << 24);
}

/* Takes the next message into `buf`: its length, -1 when none is waiting, -2 when `cap` is too small (it stays queued). */
static inline int32_t ws_channel_recv(void *buf, uint32_t cap) {
  volatile uint32_t *h = ws__channel.header;
  int32_t len = ws_channel_peek();
  if (len < 0) return -1;
  if ((uint32_t)len > cap) return -2;
  uint32_t head = h[WS_CH_IN_HEAD];
  ws__ring_copy_out(ws__channel.inbox, h[WS_CH_IN_CAP], head + 4, buf, (uint32_t)len);
  h[WS_CH_IN_HEAD] = head + 4 + (uint32_t)len;
  return len;
}

/*
 * Declares the channel's storage and its "wschan:open" export; capacities must be powers of two.
 * The host calls "wschan:pump" (defined with WS_CHANNEL_PUMP) whenever the inbox has news or the
 * outbox has room again.
 */
#define WS_CHANNEL(in_bytes, out_bytes)                                                        \
  _Static_assert(((in_bytes) & ((in_bytes) - 1)) == 0 && ((out_bytes) & ((out_bytes) - 1)) == 0, \
                 "channel capacities must be powers of two");                                 \
  static uint32_t ws__channel_storage[(WS_CH_HEADER_BYTES + (in_bytes) + (out_bytes)) / 4];   \
  WS_EXPORT("wschan:open") uint32_t *ws__channel_open(void) {                                 \
    uint32_t *h = ws__channel_storage;                                                        \
    h[WS_CH_MAGIC] = WS_CH_MAGIC_VALUE; h[WS_CH_VERSION] = 1;                                 \
    h[WS_CH_IN_CAP] = (in_bytes); h[WS_CH_OUT_CAP] = (out_bytes);                             \
    ws__channel.header = h;                                                                   \
    ws__channel.inbox = (uint8_t *)h + WS_CH_HEADER_BYTES;                                    \
    ws__channel.outbox = ws__channel.inbox + (in_bytes);                                      \
    return h;                                                                                 \
  }

#define WS_CHANNEL_PUMP WS_EXPORT("wschan:pump") void ws__channel_pump(void)

#endif /* WASM_SANDBOX_H */
