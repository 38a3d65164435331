// syscalls.node — the few system calls the agent needs that Node does not offer:
// pipe2(2), so the agent owns the workload's output pipes (agent/src/run/pipes.ts),
// and, when it is PID 1, mount(2), waitpid(2) on an orphan, reboot(2) and
// bringing up the loopback interface. Node-API only, so one build runs on any
// Node with N-API 8; compiled at build time and embedded in the binary.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, "E_INTERNAL", "syscalls: N-API call failed"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(errno));
  napi_throw_error(env, "E_SYSCALL", message);
  return NULL;
}

static napi_value make_int(napi_env env, int value) {
  napi_value result;
  CHECK(napi_create_int32(env, value, &result));
  return result;
}

// Reads argument i as a UTF-8 string into buf (empty when null/undefined).
static int get_string(napi_env env, napi_value value, char *buf, size_t size) {
  napi_valuetype type;
  size_t length;
  if (napi_typeof(env, value, &type) != napi_ok) return -1;
  if (type == napi_null || type == napi_undefined) {
    buf[0] = '\0';
    return 0;
  }
  return napi_get_value_string_utf8(env, value, buf, size, &length) == napi_ok ? 0 : -1;
}

// mount(source, target, fstype, flags, data) -> undefined; throws with errno text.
static napi_value Mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  char source[256], target[256], fstype[64], data[256];
  int64_t flags;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5 || get_string(env, argv[0], source, sizeof source) || get_string(env, argv[1], target, sizeof target) ||
      get_string(env, argv[2], fstype, sizeof fstype) || napi_get_value_int64(env, argv[3], &flags) != napi_ok ||
      get_string(env, argv[4], data, sizeof data)) {
    napi_throw_type_error(env, "E_SYSCALL", "mount(source, target, fstype, flags, data)");
    return NULL;
  }
  if (mount(source, target, fstype, (unsigned long)flags, data[0] ? data : NULL) != 0) return throw_errno(env, target);
  return NULL;
}

// reap(pid) -> pid reaped, 0 if it has not exited, -1 if it is not our child.
static napi_value Reap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t pid;
  int status;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, "E_SYSCALL", "reap(pid)");
    return NULL;
  }
  pid_t result;
  do result = waitpid(pid, &status, WNOHANG);
  while (result < 0 && errno == EINTR);
  return make_int(env, result);
}

// powerOff(restart) -> never returns on success: sync, then power off or restart the machine.
static napi_value PowerOff(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool restart = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc >= 1) napi_get_value_bool(env, argv[0], &restart);
  sync();
  if (reboot(restart ? RB_AUTOBOOT : RB_POWER_OFF) != 0) return throw_errno(env, "reboot");
  return NULL;
}

// disableCtrlAltDel() -> undefined: Ctrl-Alt-Del then sends SIGINT to PID 1 instead of rebooting at once.
static napi_value DisableCtrlAltDel(napi_env env, napi_callback_info info) {
  (void)info;
  if (reboot(RB_DISABLE_CAD) != 0) return throw_errno(env, "reboot(RB_DISABLE_CAD)");
  return NULL;
}

// loopbackUp() -> undefined: sets IFF_UP on "lo".
static napi_value LoopbackUp(napi_env env, napi_callback_info info) {
  (void)info;
  struct ifreq ifr;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket");
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
    close(fd);
    return throw_errno(env, "SIOCGIFFLAGS lo");
  }
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) {
    close(fd);
    return throw_errno(env, "SIOCSIFFLAGS lo");
  }
  close(fd);
  return NULL;
}

// pipe() -> [readFd, writeFd], both close-on-exec; throws with errno text.
static napi_value Pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  napi_value result;
  if (pipe2(fds, O_CLOEXEC) != 0) return throw_errno(env, "pipe2");
  if (napi_create_array_with_length(env, 2, &result) != napi_ok ||
      napi_set_element(env, result, 0, make_int(env, fds[0])) != napi_ok ||
      napi_set_element(env, result, 1, make_int(env, fds[1])) != napi_ok) {
    close(fds[0]);
    close(fds[1]);
    napi_throw_error(env, "E_INTERNAL", "pipe: N-API call failed");
    return NULL;
  }
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"mount", NULL, Mount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"reap", NULL, Reap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"powerOff", NULL, PowerOff, NULL, NULL, NULL, napi_enumerable, NULL},
      {"disableCtrlAltDel", NULL, DisableCtrlAltDel, NULL, NULL, NULL, napi_enumerable, NULL},
      {"loopbackUp", NULL, LoopbackUp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pipe", NULL, Pipe, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GEN_ANY, Init)
