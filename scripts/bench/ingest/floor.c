/*
 * The ingest bench's floor: the least a receiver of a GameStream video + audio stream can do.
 * It receives every datagram from two UDP sockets (video, audio) and decrypts it with OpenSSL's
 * libcrypto, one reused EVP_CIPHER_CTX per stream and preallocated buffers, and nothing else:
 * no FEC, no reassembly, no frame hand-off. Compiled by scripts/bench/ingest-process.ts with
 * `cc -O2 floor.c -lcrypto`.
 *
 * Protocol with the bench (stdin/stdout, one line each):
 *   out  "<video port> <audio port>"                       after binding 127.0.0.1:0 twice
 *   in   "<video enc 0|1> <audio enc 0|1> <rikey hex> <rikeyid>"   the session's keys
 *   in   "report"        →  out "<video datagrams> <audio datagrams> <decrypt failures>"
 *   stdin closed         →  exit
 *
 * Video datagram (encrypted, Sunshine): IV(12) | frame u32le(4) | tag(16) | AES-128-GCM ciphertext.
 * Audio datagram: RTP header(12) | AES-128-CBC ciphertext, IV = u32be(rikeyid + RTP seq) | 0^12.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_DATAGRAM 65536

static int bind_loopback(void) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) { perror("socket"); exit(1); }
  int size = 8 * 1024 * 1024; /* as src/moonlight/media-socket.ts asks for */
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); exit(1); }
  return fd;
}

static int port_of(int fd) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  return ntohs(a.sin_port);
}

static int hex_key(const char *hex, unsigned char key[16]) {
  if (strlen(hex) != 32) return -1;
  for (int i = 0; i < 16; i++) {
    unsigned int b;
    if (sscanf(hex + 2 * i, "%2x", &b) != 1) return -1;
    key[i] = (unsigned char)b;
  }
  return 0;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int video = bind_loopback(), audio = bind_loopback();
  printf("%d %d\n", port_of(video), port_of(audio));

  char line[256];
  if (!fgets(line, sizeof line, stdin)) return 0;
  int video_enc = 0, audio_enc = 0;
  char key_hex[65] = {0};
  long rikeyid = 0;
  unsigned char key[16];
  if (sscanf(line, "%d %d %64s %ld", &video_enc, &audio_enc, key_hex, &rikeyid) != 4 || hex_key(key_hex, key) != 0) {
    fprintf(stderr, "floor: bad key line\n");
    return 2;
  }

  EVP_CIPHER_CTX *gcm = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX *cbc = EVP_CIPHER_CTX_new();
  EVP_DecryptInit_ex(gcm, EVP_aes_128_gcm(), NULL, key, NULL);
  EVP_CIPHER_CTX_ctrl(gcm, EVP_CTRL_GCM_SET_IVLEN, 12, NULL);
  EVP_DecryptInit_ex(cbc, EVP_aes_128_cbc(), NULL, key, NULL);

  static unsigned char in[MAX_DATAGRAM], out[MAX_DATAGRAM + 32];
  unsigned long long video_count = 0, audio_count = 0, failures = 0;
  struct pollfd fds[3] = {{video, POLLIN, 0}, {audio, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      perror("poll");
      return 1;
    }
    if (fds[2].revents) {
      if (!fgets(line, sizeof line, stdin)) return 0;
      printf("%llu %llu %llu\n", video_count, audio_count, failures);
    }
    if (fds[0].revents & POLLIN) {
      ssize_t n;
      while ((n = recv(video, in, sizeof in, MSG_DONTWAIT)) >= 0) {
        video_count++;
        if (!video_enc) continue;
        int len = 0, fin = 0;
        if (n <= 32 ||
            !EVP_DecryptInit_ex(gcm, NULL, NULL, NULL, in) ||
            !EVP_CIPHER_CTX_ctrl(gcm, EVP_CTRL_GCM_SET_TAG, 16, in + 16) ||
            !EVP_DecryptUpdate(gcm, out, &len, in + 32, (int)n - 32) ||
            !EVP_DecryptFinal_ex(gcm, out + len, &fin))
          failures++;
      }
    }
    if (fds[1].revents & POLLIN) {
      ssize_t n;
      while ((n = recv(audio, in, sizeof in, MSG_DONTWAIT)) >= 0) {
        audio_count++;
        if (!audio_enc || n <= 12 || (in[1] & 0x7f) != 97) continue; /* FEC parity (PT 127) is not encrypted */
        unsigned char iv[16] = {0};
        uint32_t v = (uint32_t)rikeyid + (uint32_t)((in[2] << 8) | in[3]);
        iv[0] = v >> 24; iv[1] = v >> 16; iv[2] = v >> 8; iv[3] = v;
        int len = 0, fin = 0;
        if (!EVP_DecryptInit_ex(cbc, NULL, NULL, NULL, iv) ||
            !EVP_DecryptUpdate(cbc, out, &len, in + 12, (int)n - 12) ||
            !EVP_DecryptFinal_ex(cbc, out + len, &fin))
          failures++;
      }
    }
  }
}
