/*
 * The fan-out benchmark's floor (scripts/bench/fanout/floor.ts compiles this with `cc` at bench time
 * and loads it with bun:ffi): what C pays to send the same RTP packets to N viewers over loopback —
 * per viewer and packet one copy (the packets are shared, SRTP encrypts in place), the sequence
 * number patched, SRTP protection, one sendto on the viewer's own UDP socket. One call per frame
 * does the whole loop: no per-packet crossing from JS.
 *
 * SRTP is done here with OpenSSL's EVP (AES-128-CTR + HMAC-SHA1-80, RFC 3711; or AES-128-GCM, RFC
 * 7714), contexts keyed once per viewer — what libsrtp built against OpenSSL (as node-datachannel
 * bundles it) pays. Debian's libsrtp2 is built against NSS, which sets up a crypto context per
 * packet (measured: ~2× the whole floor); it serves here as the reference: floor_selftest()
 * checks that libsrtp2 accepts what floor_protect makes and that floor_unprotect accepts what
 * libsrtp2 makes, for both suites.
 *
 * floor_tx_send_gso is what a batch-send API would allow (libjuice sends one datagram per call):
 * a viewer's protected packets of one frame go out in runs of equal size, each run one sendmsg
 * with UDP_SEGMENT (Linux UDP GSO), so the kernel's per-datagram send path runs once per run.
 *
 * The receiving side mirrors libjuice's: one thread sleeps in epoll_wait on every viewer socket of
 * the process (so each datagram may wake it, as it wakes a juice poll thread), reads, verifies and
 * decrypts, and appends the packet to a queue that JS drains on a timer.
 *
 *   queue record: u32 viewer slot | u32 length | length bytes of RTP (little-endian header)
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <srtp2/srtp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOTS 1024
#define MAX_PACKET 1500
#define RCVBUF_BYTES (4 << 20)
#define QUEUE_BYTES (32 << 20)

/* The crypto suite: 0 = AES_CM_128_HMAC_SHA1_80 (30-byte key+salt), 1 = AEAD_AES_128_GCM (28). */
static void set_policy(srtp_policy_t *policy, const uint8_t *key, int gcm, int inbound) {
  memset(policy, 0, sizeof *policy);
  if (gcm) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy->rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy->rtcp);
  } else {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy->rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy->rtcp);
  }
  policy->ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
  policy->key = (unsigned char *)key;
  policy->window_size = 1024;
  policy->allow_repeat_tx = 1;
}

static int initialized;
static int init_once(void) {
  if (initialized) return 0;
  if (srtp_init() != srtp_err_status_ok) return -1;
  initialized = 1;
  return 0;
}

/* ---- SRTP with OpenSSL ------------------------------------------------------------------------
 * Session keys (RFC 3711 §4.3, kdr = 0): AES-CM(master key) keystream from IV = (master salt XOR
 * label at byte 7) || 00 00; labels 0 = cipher key (16), 1 = auth key (20), 2 = salt (14; 12 GCM).
 * CM packet: IV = salt·2^16 XOR SSRC·2^64 XOR index·2^16; payload encrypted; tag = first 10 bytes
 * of HMAC-SHA1(auth key, packet || ROC). GCM packet (RFC 7714): IV = (00 00 SSRC ROC SEQ) XOR salt,
 * AAD = header, 16-byte tag appended.
 */
typedef struct {
  int gcm;
  EVP_CIPHER_CTX *cipher;
  HMAC_CTX *hmac;
  uint8_t salt[14];
  uint32_t roc;
  int32_t last_seq;
} srtp_context;

static int kdf(const uint8_t *master, int gcm, uint8_t label, uint8_t *out, int len) {
  uint8_t iv[16] = {0}, zeros[32] = {0};
  memcpy(iv, master + 16, gcm ? 12 : 14);
  iv[7] ^= label;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0, ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), NULL, master, iv) && EVP_EncryptUpdate(ctx, out, &n, zeros, len);
  EVP_CIPHER_CTX_free(ctx);
  return ok ? 0 : -1;
}

static srtp_context *context_new(const uint8_t *master, int gcm, int decrypt) {
  srtp_context *c = calloc(1, sizeof *c);
  uint8_t key[16], auth[20];
  if (!c || kdf(master, gcm, 0, key, 16) || kdf(master, gcm, 2, c->salt, gcm ? 12 : 14)) return free(c), NULL;
  c->gcm = gcm;
  c->last_seq = -1;
  c->cipher = EVP_CIPHER_CTX_new();
  if (gcm) {
    int ok = decrypt ? EVP_DecryptInit_ex(c->cipher, EVP_aes_128_gcm(), NULL, key, NULL) : EVP_EncryptInit_ex(c->cipher, EVP_aes_128_gcm(), NULL, key, NULL);
    EVP_CIPHER_CTX_ctrl(c->cipher, EVP_CTRL_GCM_SET_IVLEN, 12, NULL);
    if (!ok) return NULL;
  } else {
    if (kdf(master, gcm, 1, auth, 20) || !EVP_EncryptInit_ex(c->cipher, EVP_aes_128_ctr(), NULL, key, NULL)) return NULL;
    c->hmac = HMAC_CTX_new();
    if (!HMAC_Init_ex(c->hmac, auth, 20, EVP_sha1(), NULL)) return NULL;
  }
  return c;
}

static void context_free(srtp_context *c) {
  if (!c) return;
  EVP_CIPHER_CTX_free(c->cipher);
  HMAC_CTX_free(c->hmac);
  free(c);
}

static int header_length(const uint8_t *p, int len) {
  int at = 12 + (p[0] & 0x0f) * 4;
  if (p[0] & 0x10) {
    if (at + 4 > len) return -1;
    at += 4 + ((p[at + 2] << 8) | p[at + 3]) * 4;
  }
  return at <= len ? at : -1;
}

static void packet_iv(const srtp_context *c, const uint8_t *p, uint32_t roc, uint8_t *iv) {
  uint16_t seq = (p[2] << 8) | p[3];
  memset(iv, 0, 16);
  if (c->gcm) {
    memcpy(iv + 2, p + 8, 4);
    iv[6] = roc >> 24, iv[7] = roc >> 16, iv[8] = roc >> 8, iv[9] = roc;
    iv[10] = seq >> 8, iv[11] = seq;
    for (int i = 0; i < 12; i++) iv[i] ^= c->salt[i];
  } else {
    memcpy(iv, c->salt, 14);
    for (int i = 0; i < 4; i++) iv[4 + i] ^= p[8 + i];
    iv[8] ^= roc >> 24, iv[9] ^= roc >> 16, iv[10] ^= roc >> 8, iv[11] ^= roc;
    iv[12] ^= seq >> 8, iv[13] ^= seq;
  }
}

static void sha1_tag(srtp_context *c, const uint8_t *p, int len, uint32_t roc, uint8_t *tag) {
  uint8_t r[4] = {roc >> 24, roc >> 16, roc >> 8, roc}, mac[20];
  unsigned int n = 0;
  HMAC_Init_ex(c->hmac, NULL, 0, NULL, NULL);
  HMAC_Update(c->hmac, p, len);
  HMAC_Update(c->hmac, r, 4);
  HMAC_Final(c->hmac, mac, &n);
  memcpy(tag, mac, 10);
}

/* Protects the RTP packet in place (room for 16 more bytes); returns the new length or -1. */
static int floor_protect(srtp_context *c, uint8_t *p, int len) {
  int header = header_length(p, len), n = 0, f = 0;
  if (header < 0) return -1;
  uint16_t seq = (p[2] << 8) | p[3];
  if (c->last_seq >= 0 && seq < c->last_seq && c->last_seq - seq > 0x8000) c->roc++;
  c->last_seq = seq;
  uint8_t iv[16];
  packet_iv(c, p, c->roc, iv);
  if (c->gcm) {
    if (!EVP_EncryptInit_ex(c->cipher, NULL, NULL, NULL, iv) || !EVP_EncryptUpdate(c->cipher, NULL, &n, p, header) ||
        !EVP_EncryptUpdate(c->cipher, p + header, &n, p + header, len - header) || !EVP_EncryptFinal_ex(c->cipher, p + len, &f) ||
        !EVP_CIPHER_CTX_ctrl(c->cipher, EVP_CTRL_GCM_GET_TAG, 16, p + len))
      return -1;
    return len + 16;
  }
  if (!EVP_EncryptInit_ex(c->cipher, NULL, NULL, NULL, iv) || !EVP_EncryptUpdate(c->cipher, p + header, &n, p + header, len - header)) return -1;
  sha1_tag(c, p, len, c->roc, p + len);
  return len + 10;
}

/* Verifies and decrypts in place; returns the RTP length or -1 (ROC guessed as RFC 3711 §3.3.1). */
static int floor_unprotect(srtp_context *c, uint8_t *p, int len) {
  int tag = c->gcm ? 16 : 10, n = 0, f = 0;
  if (len < 12 + tag) return -1;
  len -= tag;
  int header = header_length(p, len);
  if (header < 0) return -1;
  uint16_t seq = (p[2] << 8) | p[3];
  uint32_t roc = c->roc;
  if (c->last_seq >= 0 && seq < c->last_seq && c->last_seq - seq > 0x8000) roc++;
  uint8_t iv[16];
  packet_iv(c, p, roc, iv);
  if (c->gcm) {
    if (!EVP_DecryptInit_ex(c->cipher, NULL, NULL, NULL, iv) || !EVP_DecryptUpdate(c->cipher, NULL, &n, p, header) ||
        !EVP_DecryptUpdate(c->cipher, p + header, &n, p + header, len - header) ||
        !EVP_CIPHER_CTX_ctrl(c->cipher, EVP_CTRL_GCM_SET_TAG, 16, p + len) || EVP_DecryptFinal_ex(c->cipher, p + len, &f) <= 0)
      return -1;
  } else {
    uint8_t expected[10];
    sha1_tag(c, p, len, roc, expected);
    if (memcmp(expected, p + len, 10) != 0) return -1;
    if (!EVP_EncryptInit_ex(c->cipher, NULL, NULL, NULL, iv) || !EVP_EncryptUpdate(c->cipher, p + header, &n, p + header, len - header)) return -1;
  }
  if (roc != c->roc) c->roc = roc;
  if (c->last_seq < 0 || ((seq - c->last_seq) & 0xffff) < 0x8000) c->last_seq = seq;
  return len;
}

/* 0 when floor_protect/floor_unprotect and libsrtp2 understand each other for suite `gcm`. */
int floor_selftest(int gcm) {
  if (init_once() < 0) return -1;
  uint8_t master[30];
  for (int i = 0; i < 30; i++) master[i] = (uint8_t)(i * 7 + 1);
  srtp_policy_t policy;
  srtp_t lib_rx, lib_tx;
  set_policy(&policy, master, gcm, 1);
  if (srtp_create(&lib_rx, &policy) != srtp_err_status_ok) return -2;
  set_policy(&policy, master, gcm, 0);
  if (srtp_create(&lib_tx, &policy) != srtp_err_status_ok) return -2;
  srtp_context *tx_ctx = context_new(master, gcm, 0), *rx_ctx = context_new(master, gcm, 1);
  int result = tx_ctx && rx_ctx ? 0 : -3;
  for (int i = 0; i < 3 && result == 0; i++) {
    uint8_t packet[200 + SRTP_MAX_TRAILER_LEN], plain[200];
    for (int b = 0; b < 200; b++) plain[b] = (uint8_t)(b * 13 + i);
    plain[0] = 0x90, plain[1] = 102, plain[2] = 0x12, plain[3] = (uint8_t)i;
    memcpy(plain + 8, "\x12\x34\x56\x78\xbe\xde\x00\x01", 8);
    int len = 200;
    memcpy(packet, plain, 200);
    if ((len = floor_protect(tx_ctx, packet, len)) < 0 || srtp_unprotect(lib_rx, packet, &len) != srtp_err_status_ok || len != 200 || memcmp(packet, plain, 200)) result = -4;
    len = 200;
    memcpy(packet, plain, 200);
    if (result == 0 && (srtp_protect(lib_tx, packet, &len) != srtp_err_status_ok || (len = floor_unprotect(rx_ctx, packet, len)) != 200 || memcmp(packet, plain, 200))) result = -5;
  }
  srtp_dealloc(lib_rx);
  srtp_dealloc(lib_tx);
  context_free(tx_ctx);
  context_free(rx_ctx);
  return result;
}

static int udp_socket(int rcvbuf) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_in local = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* ---- sender ---------------------------------------------------------------------------------- */
typedef struct {
  srtp_context *srtp;
  int fd;
  struct sockaddr_in to;
  uint16_t seq;
} tx_viewer;
static tx_viewer *tx[SLOTS];

/* Opens viewer slot for 127.0.0.1:port; returns the slot or -1. */
int floor_tx_open(const uint8_t *key, int port, int gcm, int first_seq) {
  if (init_once() < 0) return -1;
  for (int slot = 0; slot < SLOTS; slot++) {
    if (tx[slot]) continue;
    tx_viewer *v = calloc(1, sizeof *v);
    if (!v || !(v->srtp = context_new(key, gcm, 0)) || (v->fd = udp_socket(0)) < 0) {
      if (v) context_free(v->srtp);
      free(v);
      return -1;
    }
    v->to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    v->seq = (uint16_t)first_seq;
    tx[slot] = v;
    return slot;
  }
  return -1;
}

void floor_tx_close(int slot) {
  if (slot < 0 || slot >= SLOTS || !tx[slot]) return;
  context_free(tx[slot]->srtp);
  close(tx[slot]->fd);
  free(tx[slot]);
  tx[slot] = NULL;
}

/*
 * Sends one frame (`count` packets: packet i is frame[offsets[i] .. offsets[i+1]]) to the `n`
 * viewers in `slots`. Returns the packets handed to the kernel.
 */
int floor_tx_send(const int32_t *slots, int n, const uint8_t *frame, const uint32_t *offsets, int count) {
  uint8_t packet[MAX_PACKET + SRTP_MAX_TRAILER_LEN];
  int sent = 0;
  for (int i = 0; i < n; i++) {
    tx_viewer *v = slots[i] >= 0 && slots[i] < SLOTS ? tx[slots[i]] : NULL;
    if (!v) continue;
    for (int p = 0; p < count; p++) {
      int len = (int)(offsets[p + 1] - offsets[p]);
      if (len > MAX_PACKET || len < 12) continue;
      memcpy(packet, frame + offsets[p], len);
      packet[2] = v->seq >> 8;
      packet[3] = v->seq & 0xff;
      v->seq++;
      if ((len = floor_protect(v->srtp, packet, len)) < 0) continue;
      if (sendto(v->fd, packet, len, 0, (struct sockaddr *)&v->to, sizeof v->to) == len) sent++;
    }
  }
  return sent;
}

/* At most this many segments and bytes per GSO send (kernel: UDP_MAX_SEGMENTS, 64 kB datagram). */
#define GSO_SEGMENTS 64
#define GSO_BYTES 60000

static int send_run(tx_viewer *v, uint8_t *run, int bytes, int segment) {
  char control[CMSG_SPACE(sizeof(uint16_t))] = {0};
  struct iovec iov = {.iov_base = run, .iov_len = (size_t)bytes};
  struct msghdr msg = {.msg_name = &v->to, .msg_namelen = sizeof v->to, .msg_iov = &iov, .msg_iovlen = 1};
  if (bytes > segment) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    *(uint16_t *)CMSG_DATA(cm) = (uint16_t)segment;
  }
  return sendmsg(v->fd, &msg, 0) == bytes;
}

/* As floor_tx_send, in UDP GSO runs: packets of equal protected size (the last may be shorter). */
int floor_tx_send_gso(const int32_t *slots, int n, const uint8_t *frame, const uint32_t *offsets, int count) {
  static uint8_t run[GSO_BYTES + MAX_PACKET + SRTP_MAX_TRAILER_LEN];
  int sent = 0;
  for (int i = 0; i < n; i++) {
    tx_viewer *v = slots[i] >= 0 && slots[i] < SLOTS ? tx[slots[i]] : NULL;
    if (!v) continue;
    int bytes = 0, segment = 0, segments = 0;
    for (int p = 0; p < count; p++) {
      int len = (int)(offsets[p + 1] - offsets[p]);
      if (len > MAX_PACKET || len < 12) continue;
      uint8_t *packet = run + bytes;
      memcpy(packet, frame + offsets[p], len);
      packet[2] = v->seq >> 8;
      packet[3] = v->seq & 0xff;
      v->seq++;
      if ((len = floor_protect(v->srtp, packet, len)) < 0) continue;
      if (segments > 0 && len > segment) {
        // Longer than the run's segments: the run goes without it, it starts the next one.
        if (send_run(v, run, bytes, segment)) sent += segments;
        memmove(run, packet, len);
        bytes = segments = 0;
      }
      if (segments == 0) segment = len;
      bytes += len;
      segments++;
      // A shorter packet ends its run (GSO: only the last segment may be short).
      if (len < segment || segments == GSO_SEGMENTS || bytes + segment > GSO_BYTES) {
        if (send_run(v, run, bytes, segment)) sent += segments;
        bytes = segments = 0;
      }
    }
    if (segments > 0 && send_run(v, run, bytes, segment)) sent += segments;
  }
  return sent;
}

/* ---- receiver -------------------------------------------------------------------------------- */
typedef struct {
  srtp_context *srtp;
  int fd;
  int port;
} rx_viewer;
static rx_viewer *rx[SLOTS];
static int epoll_fd = -1;
static pthread_t rx_thread;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *queue;
static size_t queue_used;
static uint32_t queue_dropped;

static void *rx_loop(void *unused) {
  (void)unused;
  struct epoll_event events[64];
  uint8_t packet[MAX_PACKET + SRTP_MAX_TRAILER_LEN];
  for (;;) {
    int ready = epoll_wait(epoll_fd, events, 64, -1);
    for (int e = 0; e < ready; e++) {
      int slot = events[e].data.u32;
      // Sockets are read under slots_lock (floor_rx_close frees them under it); the queue has its
      // own lock, held only to append, so JS draining is never held up by a busy socket.
      pthread_mutex_lock(&slots_lock);
      rx_viewer *v = rx[slot];
      for (int n = 0; v && n < 64; n++) {
        ssize_t got = recv(v->fd, packet, sizeof packet, 0);
        if (got < 0) break;
        int len = floor_unprotect(v->srtp, packet, (int)got);
        if (len < 0) continue;
        pthread_mutex_lock(&queue_lock);
        if (queue_used + 8 + len > QUEUE_BYTES) {
          queue_dropped++;
        } else {
          uint32_t head[2] = {(uint32_t)slot, (uint32_t)len};
          memcpy(queue + queue_used, head, 8);
          memcpy(queue + queue_used + 8, packet, len);
          queue_used += 8 + len;
        }
        pthread_mutex_unlock(&queue_lock);
      }
      pthread_mutex_unlock(&slots_lock);
    }
  }
  return NULL;
}

/* Opens a receiving viewer socket on 127.0.0.1; returns the slot or -1 (floor_rx_port: its port). */
int floor_rx_open(const uint8_t *key, int gcm) {
  if (init_once() < 0) return -1;
  if (epoll_fd < 0) {
    queue = malloc(QUEUE_BYTES);
    if (!queue || (epoll_fd = epoll_create1(EPOLL_CLOEXEC)) < 0) return -1;
    if (pthread_create(&rx_thread, NULL, rx_loop, NULL) != 0) return -1;
  }
  pthread_mutex_lock(&slots_lock);
  int result = -1;
  for (int slot = 0; slot < SLOTS && result < 0; slot++) {
    if (rx[slot]) continue;
    rx_viewer *v = calloc(1, sizeof *v);
    if (!v || !(v->srtp = context_new(key, gcm, 1)) || (v->fd = udp_socket(RCVBUF_BYTES)) < 0) {
      if (v) context_free(v->srtp);
      free(v);
      break;
    }
    struct sockaddr_in local;
    socklen_t size = sizeof local;
    getsockname(v->fd, (struct sockaddr *)&local, &size);
    v->port = ntohs(local.sin_port);
    rx[slot] = v;
    struct epoll_event event = {.events = EPOLLIN, .data.u32 = (uint32_t)slot};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, v->fd, &event);
    result = slot;
  }
  pthread_mutex_unlock(&slots_lock);
  return result;
}

int floor_rx_port(int slot) { return slot >= 0 && slot < SLOTS && rx[slot] ? rx[slot]->port : -1; }

void floor_rx_close(int slot) {
  if (slot < 0 || slot >= SLOTS) return;
  pthread_mutex_lock(&slots_lock);
  rx_viewer *v = rx[slot];
  rx[slot] = NULL;
  if (v) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, v->fd, NULL);
    close(v->fd);
    context_free(v->srtp);
    free(v);
  }
  pthread_mutex_unlock(&slots_lock);
}

/* Moves the queued packets (records above) into `out`; returns the bytes written. */
int floor_rx_drain(uint8_t *out, int capacity) {
  pthread_mutex_lock(&queue_lock);
  size_t take = 0;
  while (take < queue_used) {
    uint32_t len;
    memcpy(&len, queue + take + 4, 4);
    if (take + 8 + len > (size_t)capacity) break;
    take += 8 + len;
  }
  memcpy(out, queue, take);
  memmove(queue, queue + take, queue_used - take);
  queue_used -= take;
  pthread_mutex_unlock(&queue_lock);
  return (int)take;
}

uint32_t floor_rx_dropped(void) { return queue_dropped; }
