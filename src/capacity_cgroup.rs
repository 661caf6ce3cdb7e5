//! Where the process's cgroup memory limits are: its cgroup (from `/proc/self/cgroup`)
//! under each memory hierarchy mounted (from `/proc/self/mountinfo`), v2's `memory.max`
//! or v1's `memory.limit_in_bytes`, for it and each ancestor up to the mount's root (a
//! parent's limit binds its children too). Pure text in, paths out, so it is tested on
//! the files of hosts other than this one.

use std::path::{Path, PathBuf};

/// The limit files that bind the process, tightest unknown until read.
pub(super) fn limit_files(cgroups: &str, mountinfo: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for mount in mountinfo.lines().filter_map(Mount::parse) {
        let (own, file) = match mount.fstype {
            "cgroup2" => (unified(cgroups), "memory.max"),
            "cgroup" if mount.options.split(',').any(|o| o == "memory") => {
                (controller(cgroups, "memory"), "memory.limit_in_bytes")
            }
            _ => continue,
        };
        let Some(own) = own else { continue };
        let relative = own.strip_prefix(mount.root).unwrap_or("/");
        let mut dir = Path::new(mount.point).join(relative.trim_start_matches('/'));
        loop {
            files.push(dir.join(file));
            if dir == Path::new(mount.point) || !dir.pop() {
                break;
            }
        }
    }
    files
}

/// A limit file's value: `None` for no limit (`max`, or v1's near-2^63).
pub(super) fn parse_limit(text: &str) -> Option<u64> {
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes < 1 << 62).then_some(bytes)
}

/// One line of `/proc/self/mountinfo`, the fields used.
struct Mount<'a> {
    /// The mounted directory's path within its filesystem (a cgroup's, for a cgroup
    /// mount inside a container).
    root: &'a str,
    point: &'a str,
    fstype: &'a str,
    /// The filesystem's own options (a v1 cgroup mount's controllers).
    options: &'a str,
}

impl<'a> Mount<'a> {
    fn parse(line: &'a str) -> Option<Mount<'a>> {
        let (before, after) = line.split_once(" - ")?;
        let mut before = before.split(' ');
        let root = before.nth(3)?;
        let point = before.next()?;
        let mut after = after.split(' ');
        let fstype = after.next()?;
        let options = after.nth(1).unwrap_or("");
        Some(Mount {
            root,
            point,
            fstype,
            options,
        })
    }
}

/// The process's v2 cgroup (`0::PATH`).
fn unified(cgroups: &str) -> Option<&str> {
    cgroups.lines().find_map(|l| l.strip_prefix("0::"))
}

/// The process's cgroup in the v1 hierarchy holding `name` (`ID:a,name:PATH`).
fn controller<'a>(cgroups: &'a str, name: &str) -> Option<&'a str> {
    cgroups.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers.split(',').any(|c| c == name).then_some(path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's kind: hybrid, memory on v1, the process in a nested group.
    const HYBRID_CGROUPS: &str = "9:name=systemd:/\n4:memory:/process_api/dc51\n0::/\n";
    const HYBRID_MOUNTS: &str = "\
30 24 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
34 30 0:30 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
36 30 0:32 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
";

    #[test]
    fn v1_and_v2_hierarchies_with_every_ancestor() {
        let files = limit_files(HYBRID_CGROUPS, HYBRID_MOUNTS);
        let want = [
            "/sys/fs/cgroup/memory/process_api/dc51/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/unified/memory.max",
        ];
        assert_eq!(files, want.map(PathBuf::from));
    }

    #[test]
    fn a_container_sees_its_own_cgroup_as_the_mount_root() {
        // cgroup namespace: the process's path is `/`, the mount is the container's.
        let cgroups = "0::/\n";
        let mounts = "1000 900 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let files = limit_files(cgroups, mounts);
        assert_eq!(files, [PathBuf::from("/sys/fs/cgroup/memory.max")]);
        // Without a namespace, a v1 mount bound from the host's group of the container.
        let cgroups = "5:memory:/kubepods/pod1/c1\n";
        let mounts =
            "700 600 0:40 /kubepods/pod1/c1 /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n";
        let files = limit_files(cgroups, mounts);
        let want = "/sys/fs/cgroup/memory/memory.limit_in_bytes";
        assert_eq!(files, [PathBuf::from(want)]);
    }

    #[test]
    fn limits_read_as_bytes_or_none() {
        assert_eq!(parse_limit("134217728\n"), Some(128 << 20));
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit(""), None);
    }
}
