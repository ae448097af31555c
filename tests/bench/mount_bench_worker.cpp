// mount_bench_worker: the workloads of sbx_mount_bench, one static binary that runs the same way on
// the host and inside the guest (the built-in image has only busybox). Each prints "<name> <ms>".
//   files DIR N        create N small files in DIR (new), then stat each; prints create and stat
//   write FILE MIB     write MIB MiB sequentially (1 MiB writes) and fsync
//   read FILE          read FILE sequentially (1 MiB reads)
//   run PROGRAM ARGS   run a program (stdout to /dev/null) and time it
//   walk DIR           lstat every entry under DIR (no symlink followed); prints walk and entries
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

double now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int die(const char* what) {
  std::fprintf(stderr, "mount_bench_worker: %s: %s\n", what, std::strerror(errno));
  return 1;
}

int files(const char* dir, long n) {
  if (mkdir(dir, 0755) != 0) return die(dir);
  char path[4096];
  const char payload[100] = "small file payload";
  double t = now_ms();
  for (long i = 0; i < n; ++i) {
    std::snprintf(path, sizeof path, "%s/f%ld", dir, i);
    const int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, payload, sizeof payload) != sizeof payload || close(fd) != 0) return die(path);
  }
  std::printf("create %.1f\n", now_ms() - t);
  t = now_ms();
  struct stat st{};
  for (long i = 0; i < n; ++i) {
    std::snprintf(path, sizeof path, "%s/f%ld", dir, i);
    if (stat(path, &st) != 0 || st.st_size != sizeof payload) return die(path);
  }
  std::printf("stat %.1f\n", now_ms() - t);
  return 0;
}

int write_file(const char* file, long mib) {
  static char buf[1 << 20];
  std::memset(buf, 'x', sizeof buf);
  const double t = now_ms();
  const int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return die(file);
  for (long i = 0; i < mib; ++i)
    if (write(fd, buf, sizeof buf) != static_cast<ssize_t>(sizeof buf)) return die(file);
  if (fsync(fd) != 0 || close(fd) != 0) return die(file);
  std::printf("write %.1f\n", now_ms() - t);
  return 0;
}

int read_file(const char* file) {
  static char buf[1 << 20];
  const double t = now_ms();
  const int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return die(file);
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0) {
  }
  if (r < 0) return die(file);
  close(fd);
  std::printf("read %.1f\n", now_ms() - t);
  return 0;
}

int run(char** argv) {
  const double t = now_ms();
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execv(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "mount_bench_worker: %s failed (status %d)\n", argv[0], status);
    return 1;
  }
  std::printf("run %.1f\n", now_ms() - t);
  return 0;
}

long g_entries = 0;

int walk(const char* dir) {
  const double t = now_ms();
  g_entries = 0;
  // nftw lstats each entry itself (FTW_PHYS); counting them keeps the walk from being elided.
  auto one = [](const char*, const struct stat* st, int, FTW*) {
    g_entries += st->st_nlink > 0;
    return 0;
  };
  if (nftw(dir, one, 64, FTW_PHYS) != 0) return die(dir);
  std::printf("walk %.1f\nentries %ld\n", now_ms() - t, g_entries);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 4 && !std::strcmp(argv[1], "files")) return files(argv[2], std::atol(argv[3]));
  if (argc >= 4 && !std::strcmp(argv[1], "write")) return write_file(argv[2], std::atol(argv[3]));
  if (argc >= 3 && !std::strcmp(argv[1], "read")) return read_file(argv[2]);
  if (argc >= 3 && !std::strcmp(argv[1], "run")) return run(argv + 2);
  if (argc >= 3 && !std::strcmp(argv[1], "walk")) return walk(argv[2]);
  std::fprintf(stderr, "usage: mount_bench_worker files DIR N | write FILE MIB | read FILE | run PROGRAM ARGS... | walk DIR\n");
  return 2;
}
