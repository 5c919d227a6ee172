/*
 * C reference for native-free-bench/uring-tap.ts: the same 64-byte frame writes and the same
 * drain of a TAP's queue, with write(2)/read(2) per frame and with liburing. Documentation only:
 * it is not built by npm, and pontoon itself does not use liburing. Build and run as root:
 *
 *   gcc -O2 -o /tmp/uring-tap-ref native-free-bench/uring-tap-ref.c -luring
 *   ip netns add pt-ref && ip netns exec pt-ref sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
 *     net.ipv6.conf.default.disable_ipv6=1 && ip netns exec pt-ref /tmp/uring-tap-ref; ip netns del pt-ref
 *
 * Uses the opcode number of IORING_OP_READ_MULTISHOT (49) directly: Debian's liburing 2.3 and
 * kernel headers predate it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
unsigned int if_nametoindex(const char *ifname); /* <net/if.h> clashes with <linux/if.h> */
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <liburing.h>
#include <net/ethernet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAMES 200000
#define ROUNDS 5
#define BATCH 64
#define QUEUE 4000
#define BUFS 4096
#define BUF_LEN 2048
#define OP_READ_MULTISHOT 49

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
  qsort(v, n, sizeof *v, cmp);
  return v[n / 2];
}

static unsigned char frames[BATCH][64];

static void make_frames(void) {
  /* Ethernet to a MAC the TAP does not have, IPv4, UDP: the namespace drops it (OTHERHOST) */
  static const unsigned char dst[6] = {0x02, 0x42, 0xac, 0x11, 0x00, 0x99}, src[6] = {0x02, 0x42, 0xac, 0x11, 0x00, 0x02};
  for (int i = 0; i < BATCH; i++) {
    unsigned char *f = frames[i];
    memset(f, 0x61, 64);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x08, f[13] = 0x00;
    f[14] = 0x45, f[15] = 0, f[16] = 0, f[17] = 50; /* total length 50 */
    f[22] = 64, f[23] = 17;                         /* ttl, UDP */
    f[34] = (40000 + i) >> 8, f[35] = (40000 + i) & 0xff, f[36] = 0, f[37] = 9;
  }
}

static int open_tap(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  struct ifreq ifr = {0};
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
    perror("TAP");
    exit(1);
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "ip link set %s up txqueuelen 4096", name);
  if (system(cmd) != 0) exit(1);
  return fd;
}

static int open_peer(const char *name) {
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
  struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)if_nametoindex(name)};
  int big = 64 << 20;
  if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0) {
    perror("packet socket");
    exit(1);
  }
  return fd;
}

static int fill(int peer, int count) {
  int sent = 0;
  while (sent < count && write(peer, frames[0], 64) == 64) sent++;
  return sent;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  make_frames();
  int tap = open_tap("bench0");
  int peer = open_peer("bench0");
  double runs[4 * ROUNDS * 4];

  /* ---- writes */
  for (int r = 0; r <= ROUNDS; r++) {
    double t = now_ns();
    for (int i = 0; i < FRAMES; i++)
      if (write(tap, frames[i & (BATCH - 1)], 64) != 64) return perror("write"), 1;
    if (r) runs[r - 1] = (now_ns() - t) / FRAMES; /* round 0: warm-up */
  }
  printf("%-58s %7.0f ns/frame\n", "C write: write(2) per frame", median(runs, ROUNDS));

  struct io_uring ring;
  struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE, .cq_entries = 2 * BUFS};
  if (io_uring_queue_init_params(BATCH, &ring, &p) < 0) return perror("io_uring"), 1;
  for (int r = 0; r <= ROUNDS; r++) {
    double t = now_ns();
    for (int done = 0; done < FRAMES; done += BATCH) {
      for (int i = 0; i < BATCH; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        io_uring_prep_write(sqe, tap, frames[i], 64, -1);
        sqe->user_data = i;
      }
      io_uring_submit(&ring);
      struct io_uring_cqe *cqes[BATCH];
      unsigned got = io_uring_peek_batch_cqe(&ring, cqes, BATCH);
      for (unsigned i = 0; i < got; i++)
        if (cqes[i]->res != 64) return fprintf(stderr, "write res %d\n", cqes[i]->res), 1;
      io_uring_cq_advance(&ring, got);
      if (got != BATCH) return fprintf(stderr, "only %u CQEs after submit\n", got), 1;
    }
    if (r) runs[r - 1] = (now_ns() - t) / FRAMES;
  }
  printf("%-58s %7.0f ns/frame\n", "C write: liburing, 64 per io_uring_enter", median(runs, ROUNDS));

  /* ---- reads, drain */
  static unsigned char rbuf[BUF_LEN];
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN}, out[4];
  epoll_ctl(ep, EPOLL_CTL_ADD, tap, &ev);
  for (int r = 0; r <= 4 * ROUNDS; r++) {
    int sent = fill(peer, QUEUE), frames_read = 0;
    double t = now_ns(), last = t;
    while (epoll_wait(ep, out, 4, frames_read < sent ? 20 : 0) > 0) {
      int k = 0;
      for (; k < BATCH && read(tap, rbuf, BUF_LEN) > 0; k++) frames_read++;
      last = now_ns();
      if (k < BATCH && frames_read >= sent) break;
    }
    if (frames_read != sent) return fprintf(stderr, "read: %d of %d\n", frames_read, sent), 1;
    if (r) runs[r - 1] = (last - t) / sent;
  }
  printf("%-58s %7.0f ns/frame\n", "C read, drain: epoll_wait + read(2) per frame", median(runs, 4 * ROUNDS));

  size_t ring_len = BUFS * sizeof(struct io_uring_buf);
  struct io_uring_buf_ring *br = mmap(NULL, ring_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  unsigned char *slab = malloc((size_t)BUFS * BUF_LEN);
  struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = BUFS, .bgid = 0};
  if (br == MAP_FAILED || io_uring_register_buf_ring(&ring, &reg, 0) < 0) return perror("buf ring"), 1;
  io_uring_buf_ring_init(br);
  int mask = io_uring_buf_ring_mask(BUFS);
  for (int i = 0; i < BUFS; i++) io_uring_buf_ring_add(br, slab + (size_t)i * BUF_LEN, BUF_LEN, i, mask, i);
  io_uring_buf_ring_advance(br, BUFS);
  for (int r = 0; r <= 4 * ROUNDS; r++) {
    int sent = fill(peer, QUEUE), frames_read = 0;
    struct __kernel_timespec ts = {0, 20 * 1000 * 1000};
    double t = now_ns(), last = t;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_rw(OP_READ_MULTISHOT, sqe, tap, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    sqe->user_data = 1;
    for (;;) {
      struct io_uring_cqe *cqe;
      if (frames_read >= sent) break;
      io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
      unsigned head, n = 0, added = 0;
      io_uring_for_each_cqe(&ring, head, cqe) {
        n++;
        if (cqe->flags & IORING_CQE_F_BUFFER) {
          int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
          frames_read++;
          io_uring_buf_ring_add(br, slab + (size_t)bid * BUF_LEN, BUF_LEN, bid, mask, added++);
        }
        if (!(cqe->flags & IORING_CQE_F_MORE) && cqe->user_data == 1) return fprintf(stderr, "multishot ended: %d\n", cqe->res), 1;
      }
      io_uring_cq_advance(&ring, n);
      io_uring_buf_ring_advance(br, added);
      if (n) last = now_ns();
      if (n == 0) break;
    }
    if (frames_read != sent) return fprintf(stderr, "multishot: %d of %d\n", frames_read, sent), 1;
    if (r) runs[r - 1] = (last - t) / sent;
    /* disarm for the next round */
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_cancel64(sqe, 1, 0);
    sqe->user_data = 2;
    struct io_uring_cqe *cqe;
    io_uring_submit_and_wait(&ring, 2);
    unsigned head, n = 0;
    io_uring_for_each_cqe(&ring, head, cqe) n++;
    io_uring_cq_advance(&ring, n);
  }
  printf("%-58s %7.0f ns/frame\n", "C read, drain: multishot read (liburing, defer)", median(runs, 4 * ROUNDS));
  return 0;
}
