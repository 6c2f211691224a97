//! xacro, the ROS XML macro language many robot descriptions are written in: telling real
//! unexpanded xacro from text that only looks like it, and expanding it with the `xacro`
//! command (ROS's own implementation; `pip install xacro` or a ROS install provides it).

use crate::mesh::PackagePaths;
use crate::robot::UrdfProblem;
use std::path::Path;
use std::process::Command;

/// `text` without its XML comments (`<!-- … -->`), each replaced by as many newlines as it
/// spans so that line numbers stay true. An unterminated comment runs to the end.
fn without_comments(text: &str) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        kept.push_str(&rest[..start]);
        let after = &rest[start + 4..];
        let end = after.find("-->").map(|e| e + 3).unwrap_or(after.len());
        kept.extend(std::iter::repeat_n('\n', after[..end].matches('\n').count()));
        rest = &after[end..];
    }
    kept.push_str(rest);
    kept
}

/// The first piece of xacro left in `text` outside XML comments (a `${…}` or `$(…)`
/// substitution, or a `<xacro:…>` element), as a problem naming its line; `None` for plain URDF.
/// Comments are skipped: xacro keeps them in its output, and real robots (PR2, Talos, TIAGo)
/// have `${…}` in them.
pub fn leftover(text: &str) -> Option<UrdfProblem> {
    let text = without_comments(text);
    let at = [text.find("${"), text.find("$("), text.find("<xacro:")].into_iter().flatten().min()?;
    let line = text[..at].matches('\n').count() + 1;
    let snippet: String = text[at..].chars().take(40).take_while(|c| *c != '"' && *c != '\n').collect();
    Some(UrdfProblem {
        element: format!("line {line}"),
        reason: format!("xacro `{snippet}` left in the file; expand it into plain URDF first (`xacro FILE > FILE.urdf`)"),
    })
}

/// `text` of the file at `path` as plain URDF: unchanged when it is not xacro, else the output
/// of `xacro PATH`, with the scenario's `packages` and the package holding the file (the nearest
/// folder above it with a `package.xml`) in the ament index that `$(find NAME)` reads. Errors
/// in the expanded text are reported at lines of xacro's output, not of the `.xacro` file. A file is xacro when its name ends in `.xacro` or
/// [`leftover`] finds xacro in it.
///
/// # Errors
/// Element `<file>` when the `xacro` command is not installed (the error gives the command to
/// run by hand) or fails (with its message).
pub fn expand_if_needed(path: &Path, text: String, packages: &PackagePaths) -> Result<String, UrdfProblem> {
    let is_xacro = path.extension().is_some_and(|e| e == "xacro");
    if !is_xacro && leftover(&text).is_none() {
        return Ok(text);
    }
    let out = match path.with_extension("") {
        stem if is_xacro && stem.extension().is_some_and(|e| e == "urdf") => stem,
        stem if is_xacro => stem.with_extension("urdf"),
        _ => path.with_extension("expanded.urdf"),
    };
    let by_hand = format!("xacro {} > {}", path.display(), out.display());
    // ROS 2's xacro finds `$(find NAME)` through the ament index: a temporary prefix indexes
    // the scenario's `packages` and the package holding the file, ahead of AMENT_PREFIX_PATH.
    let prefix = AmentPrefix::new(path, packages).map_err(|e| UrdfProblem {
        element: "<file>".to_string(),
        reason: format!("is xacro, and its packages cannot be indexed for xacro: {e}"),
    })?;
    let mut command = Command::new("xacro");
    command.arg(path);
    let mut search = vec![prefix.dir.clone()];
    search.extend(std::env::var_os("AMENT_PREFIX_PATH").map(|v| std::env::split_paths(&v).collect::<Vec<_>>()).unwrap_or_default());
    if let Ok(joined) = std::env::join_paths(&search) {
        command.env("AMENT_PREFIX_PATH", joined);
    }
    tracing::info!("expanding {} with xacro", path.display());
    let output = command.output().map_err(|e| UrdfProblem {
        element: "<file>".to_string(),
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            format!("is xacro, and the `xacro` command is not installed; install it (`pip install xacro`, or ROS's xacro package) or expand the file by hand: {by_hand}")
        } else {
            format!("is xacro, and running `xacro` failed: {e}; expand the file by hand: {by_hand}")
        },
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(UrdfProblem {
            element: "<file>".to_string(),
            reason: format!("`xacro {}` failed ({}): {}", path.display(), output.status, stderr.trim()),
        });
    }
    String::from_utf8(output.stdout).map_err(|_| UrdfProblem {
        element: "<file>".to_string(),
        reason: format!("`xacro {}` printed text that is not UTF-8", path.display()),
    })
}

/// A temporary ament prefix (`share/ament_index/resource_index/packages/NAME` markers and
/// `share/NAME` links), removed when dropped.
struct AmentPrefix {
    dir: std::path::PathBuf,
}

impl AmentPrefix {
    fn new(file: &Path, packages: &PackagePaths) -> std::io::Result<Self> {
        static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("dreamrig-ament-{}-{n}", std::process::id()));
        let index = dir.join("share/ament_index/resource_index/packages");
        std::fs::create_dir_all(&index)?;
        let prefix = Self { dir };
        let mut entries: Vec<(String, std::path::PathBuf)> = packages.explicit.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let absolute = std::path::absolute(file)?;
        if let Some((name, dir)) = absolute.ancestors().skip(1).find_map(|d| crate::mesh::package_xml_name(d).map(|n| (n, d.to_path_buf())))
        {
            entries.push((name, dir));
        }
        for (name, dir) in entries {
            let link = prefix.dir.join("share").join(&name);
            if link.exists() {
                continue;
            }
            std::fs::write(index.join(&name), "")?;
            std::os::unix::fs::symlink(std::path::absolute(&dir)?, link)?;
        }
        Ok(prefix)
    }
}

impl Drop for AmentPrefix {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xacro_inside_a_comment_is_not_xacro_and_outside_one_is_named_by_line() {
        assert!(leftover("<robot>\n<!-- length ${upper_arm_length} -->\n<link name=\"a\"/></robot>").is_none());
        let problem = leftover("<robot>\n<!-- a\ncomment -->\n<link name=\"${name}\"/></robot>").unwrap();
        assert_eq!(problem.element, "line 4");
        assert!(problem.reason.contains("${name}"), "{}", problem.reason);
        assert!(leftover("<robot><xacro:macro name=\"m\"/></robot>").is_some());
    }
}
