/* Run inside the container by ci/container.sh, under deploy/seccomp/greeter.json: tries to
 * make a new user namespace the three ways a process can (clone3, clone, unshare) and
 * prints what each got. The profile must answer clone3 with ENOSYS (so a C library falls
 * back to clone, whose flags the profile can filter) and refuse clone and unshare with
 * CLONE_NEWUSER (EPERM). Exits 0 only then. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Says what `what` got: the errno it failed with, or 0 if it succeeded. A clone that
 * succeeds returns 0 in the child, which leaves at once. */
static int attempt(const char *what, long result, int forks) {
    if (forks && result == 0) _exit(0);
    int err = result < 0 ? errno : 0;
    printf("%s: %s\n", what, err ? strerror(err) : "succeeded");
    fflush(stdout);
    return err;
}

int main(void) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_NEWUSER;
    args.exit_signal = SIGCHLD;
    int via_clone3 = attempt("clone3(CLONE_NEWUSER)", syscall(SYS_clone3, &args, sizeof args), 1);
    int via_clone = attempt("clone(CLONE_NEWUSER)",
                            syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0), 1);
    int via_unshare = attempt("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER), 0);
    return via_clone3 == ENOSYS && via_clone == EPERM && via_unshare == EPERM ? 0 : 1;
}
