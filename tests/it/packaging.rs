//! The Debian package and the systemd unit: `systemd-analyze verify` and
//! `systemd-analyze security --offline` on the unit (and on the port 443
//! drop-in of docs/install.md), the contents and control files of the .deb,
//! its maintainer scripts run by a real dpkg on a throw-away root, and the
//! example configuration through `check-config`.
//!
//! The .deb is built by `cargo deb --locked` (scripts/test does it before
//! `cargo test`: cargo holds the build lock while tests run, so a test cannot
//! build it). A missing or stale package fails these tests; it never skips them.

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_flexsecure");
const VERSION: &str = env!("CARGO_PKG_VERSION");
const UNIT: &str = "systemd/flexsecure.service";
const PACKAGED_EXEC: &str = "/usr/bin/flexsecure";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `cmd`; a program that is not installed fails with the Debian
/// package that has it.
fn output(cmd: &mut Command, package: &str) -> Output {
    cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {:?} ({e}): install Debian's {package} package (scripts/test does)",
            cmd.get_program()
        )
    })
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` and fails the test unless it succeeds; returns its output.
fn ok(cmd: &mut Command, package: &str) -> String {
    let out = output(cmd, package);
    assert!(out.status.success(), "{cmd:?} failed:\n{}", text(&out));
    text(&out)
}

// ---------------------------------------------------------------- the unit

/// A copy of the unit in `dir` whose ExecStart runs the binary under test.
/// `systemd-analyze verify` checks that the ExecStart binary exists;
/// `--root` would need a whole system tree (it then misses sysinit.target
/// and every other unit the service depends on), so the copy is the
/// smallest honest change: only the binary's path differs.
fn unit_copy(dir: &Path) -> PathBuf {
    let unit = read(&repo(UNIT));
    let exec = format!("ExecStart={PACKAGED_EXEC} ");
    assert_eq!(
        unit.lines().filter(|l| l.starts_with(&exec)).count(),
        1,
        "{UNIT} must have one ExecStart running {PACKAGED_EXEC}"
    );
    let path = dir.join("flexsecure.service");
    std::fs::write(&path, unit.replace(&exec, &format!("ExecStart={BIN} "))).unwrap();
    path
}

/// `systemd-analyze verify`: it exits 0 even for unknown keys and ignored
/// settings, so any output counts as a failure.
fn verify(unit: &Path) -> String {
    let out = output(
        Command::new("systemd-analyze").arg("verify").arg(unit),
        "systemd",
    );
    let said = text(&out);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{said}"
    );
    said
}

/// `systemd-analyze security --offline`: the exposure report of the unit
/// file (with the drop-ins beside it), failing when the exposure, in tenths
/// (the report's "1.7" is 17), is above `threshold`.
fn security(unit: &Path, threshold: u32) -> String {
    let out = output(
        Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--no-pager"])
            .arg(format!("--threshold={threshold}"))
            .arg(unit),
        "systemd",
    );
    let said = text(&out);
    assert!(
        out.status.success(),
        "exposure above {threshold} tenths:\n{said}"
    );
    said
}

fn line_of<'a>(report: &'a str, setting: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.contains(setting))
        .unwrap_or_else(|| panic!("no {setting} in:\n{report}"))
}

/// The drop-in that docs/install.md tells to add for port 443.
fn port_443_drop_in() -> String {
    let doc = read(&repo("docs/install.md"));
    let marker = "<!-- drop-in: port-443 -->";
    let after = doc
        .split_once(marker)
        .unwrap_or_else(|| panic!("docs/install.md has no {marker}"))
        .1;
    let block = after.split_once("```ini\n").expect("an ```ini block").1;
    block
        .split_once("```")
        .expect("the block's end")
        .0
        .to_string()
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_copy(dir.path());
    let said = verify(&unit);
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify warned:\n{said}"
    );

    // The check notices a mistake: an unknown key only warns, exit 0.
    let bad = tempfile::tempdir().unwrap();
    let bad_unit = unit_copy(bad.path());
    let mut s = read(&bad_unit);
    s.push_str("[Service]\nProtectSystm=strict\n");
    std::fs::write(&bad_unit, s).unwrap();
    assert!(verify(&bad_unit).contains("ProtectSystm"));

    // With install.md's port 443 drop-in beside it, still clean.
    let d = dir.path().join("flexsecure.service.d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("port-443.conf"), port_443_drop_in()).unwrap();
    let said = verify(&unit);
    assert!(said.trim().is_empty(), "with the drop-in:\n{said}");
}

#[test]
fn unit_is_hardened_and_the_port_443_drop_in_adds_only_that_capability() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_copy(dir.path());
    let report = security(&unit, 20);
    for setting in [
        "CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE",
        "AmbientCapabilities=",
        "CapabilityBoundingSet=~CAP_SYS_ADMIN",
        "NoNewPrivileges=",
        "ProtectSystem=",
        "MemoryDenyWriteExecute=",
        "UMask=",
        "User=/DynamicUser=",
    ] {
        let line = line_of(&report, setting);
        assert!(line.starts_with('✓'), "{line}");
    }

    let d = dir.path().join("flexsecure.service.d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("port-443.conf"), port_443_drop_in()).unwrap();
    let report = security(&unit, 20);
    let bind = line_of(&report, "CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE");
    assert!(bind.starts_with('✗'), "the drop-in grants the bind: {bind}");
    let others: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("CapabilityBoundingSet=~") && !l.contains("CAP_NET_(BIND_SERVICE"))
        .collect();
    assert!(others.len() > 20, "{report}");
    for line in others {
        assert!(line.starts_with('✓'), "the drop-in grants more: {line}");
    }
}

// ------------------------------------------------------------ the package

fn arch() -> String {
    ok(Command::new("dpkg").arg("--print-architecture"), "dpkg")
        .trim()
        .to_string()
}

/// target/debian/flexsecure_<version>-1_<arch>.deb, made by `cargo deb`.
fn deb() -> PathBuf {
    // The test binary lives in <target>/<profile>/; cargo deb writes to <target>/debian/.
    let target = Path::new(BIN).parent().and_then(Path::parent).unwrap();
    let deb = target
        .join("debian")
        .join(format!("flexsecure_{VERSION}-1_{}.deb", arch()));
    assert!(
        deb.is_file(),
        "{} is missing: build the package with `cargo deb --locked` \
         (scripts/test does, before `cargo test`; cargo-deb itself: \
         `cargo install --locked cargo-deb`)",
        deb.display()
    );
    deb
}

/// The files of the package in `root` and its control files in `root/DEBIAN`.
fn extract(deb: &Path, root: &Path) {
    ok(
        Command::new("dpkg-deb").arg("-x").arg(deb).arg(root),
        "dpkg",
    );
    ok(
        Command::new("dpkg-deb")
            .arg("-e")
            .arg(deb)
            .arg(root.join("DEBIAN")),
        "dpkg",
    );
}

/// Packaged path (or control file) and the repository file it comes from.
const FROM_REPO: &[(&str, &str)] = &[
    ("lib/systemd/system/flexsecure.service", UNIT),
    (
        "usr/lib/sysusers.d/flexsecure.conf",
        "systemd/flexsecure.sysusers",
    ),
    (
        "usr/lib/tmpfiles.d/flexsecure.conf",
        "systemd/flexsecure.tmpfiles",
    ),
    (
        "lib/udev/rules.d/99-flexsecure-modems.rules",
        "firmware-notes/udev/99-flexsecure-modems.rules",
    ),
    (
        "etc/flexsecure/flexsecure.toml",
        "packaging/flexsecure.toml",
    ),
    ("usr/share/doc/flexsecure/install.md", "docs/install.md"),
    ("DEBIAN/postinst", "packaging/debian/postinst"),
    ("DEBIAN/prerm", "packaging/debian/prerm"),
    ("DEBIAN/postrm", "packaging/debian/postrm"),
];

#[test]
fn deb_holds_the_program_unit_users_udev_rules_and_the_conffile() {
    let deb = deb();
    let listing = ok(Command::new("dpkg-deb").arg("-c").arg(&deb), "dpkg");
    let mode_of = |path: &str| -> &str {
        let line = listing
            .lines()
            .find(|l| l.ends_with(&format!(" ./{path}")))
            .unwrap_or_else(|| panic!("{} lacks /{path}:\n{listing}", deb.display()));
        assert!(line.contains(" 0/0 "), "owned by root: {line}");
        line.split_whitespace().next().unwrap()
    };
    assert_eq!(mode_of("usr/bin/flexsecure"), "-rwxr-xr-x");
    for (path, _) in FROM_REPO.iter().filter(|(p, _)| !p.starts_with("DEBIAN")) {
        let want = if path.starts_with("etc/") {
            "-rw-r-----"
        } else {
            "-rw-r--r--"
        };
        assert_eq!(mode_of(path), want, "{path}");
    }

    let field = |name: &str| {
        ok(
            Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name),
            "dpkg",
        )
        .trim()
        .to_string()
    };
    assert_eq!(field("Package"), "flexsecure");
    assert_eq!(field("Version"), format!("{VERSION}-1"));
    let depends = field("Depends");
    assert!(
        depends.contains("libc6 (>="),
        "Depends: {depends:?} lacks the shared libraries: cargo deb found no \
         dpkg-shlibdeps (install Debian's dpkg-dev, scripts/test does, and \
         rebuild with `cargo deb --locked`)"
    );
    assert!(depends.split(", ").any(|d| d == "systemd"), "{depends}");

    let conffiles = ok(
        Command::new("dpkg-deb")
            .arg("-I")
            .arg(&deb)
            .arg("conffiles"),
        "dpkg",
    );
    assert_eq!(
        conffiles.lines().collect::<Vec<_>>(),
        ["/etc/flexsecure/flexsecure.toml"]
    );
    let info = ok(Command::new("dpkg-deb").arg("-I").arg(&deb), "dpkg");
    for script in ["postinst", "prerm", "postrm"] {
        assert!(info.contains(&format!("*  {script} ")), "{script}:\n{info}");
    }

    // Stale package: its files must be the repository's.
    let root = tempfile::tempdir().unwrap();
    extract(&deb, root.path());
    for (packaged, source) in FROM_REPO {
        assert!(
            std::fs::read(root.path().join(packaged)).ok()
                == Some(std::fs::read(repo(source)).unwrap()),
            "{} is stale: its /{packaged} differs from {source}; rebuild it with \
             `cargo deb --locked`",
            deb.display()
        );
    }
}

#[test]
fn packaged_binary_accepts_the_packaged_config() {
    let root = tempfile::tempdir().unwrap();
    extract(&deb(), root.path());
    let bin = root.path().join("usr/bin/flexsecure");
    let version = ok(
        Command::new(&bin).arg("--version").env_clear(),
        "flexsecure",
    );
    assert_eq!(version.trim(), format!("flexsecure {VERSION}"));
    let out = ok(
        Command::new(&bin)
            .args(["check-config", "--json", "--config"])
            .arg(root.path().join("etc/flexsecure/flexsecure.toml"))
            .env_clear(),
        "flexsecure",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["data_dir"], "/var/lib/flexsecure", "{v}");
}

// ------------------------------------------------- the maintainer scripts

fn is_root() -> bool {
    let probe = tempfile::tempfile().unwrap();
    probe.metadata().unwrap().uid() == 0
}

/// A copy of `deb` with another version, as an older or newer release.
fn with_version(deb: &Path, version: &str, dir: &Path) -> PathBuf {
    let tree = dir.join(format!("tree-{version}"));
    ok(
        Command::new("dpkg-deb").arg("-R").arg(deb).arg(&tree),
        "dpkg",
    );
    let control = tree.join("DEBIAN/control");
    let c = read(&control).replace(
        &format!("Version: {VERSION}-1\n"),
        &format!("Version: {version}\n"),
    );
    std::fs::write(&control, c).unwrap();
    let out = dir.join(format!("flexsecure_{version}.deb"));
    ok(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Znone", "-b"])
            .arg(&tree)
            .arg(&out),
        "dpkg",
    );
    out
}

/// dpkg on the throw-away root `root`: the maintainer scripts run outside a
/// chroot with DPKG_ROOT=root, and the scripts honour it (systemd-sysusers
/// and systemd-tmpfiles with --root, deb-systemd-helper by itself; nothing
/// started, reloaded or removed on this machine).
fn dpkg(root: &Path, args: &[&std::ffi::OsStr]) -> String {
    ok(
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args([
                "--force-script-chrootless",
                "--force-depends",
                "--force-confold",
            ])
            .args(args)
            .env_remove("DPKG_ROOT"),
        "dpkg",
    )
}

fn ids(root: &Path, file: &str) -> HashMap<String, (u32, String)> {
    read(&root.join(file))
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((
                f.first()?.to_string(),
                (f.get(2)?.parse().ok()?, l.to_string()),
            ))
        })
        .collect()
}

fn owner_mode(path: &Path) -> (u32, u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.uid(), m.gid(), m.permissions().mode() & 0o7777)
}

#[test]
fn deb_installs_upgrades_downgrades_removes_and_purges_with_real_dpkg() {
    assert!(
        is_root(),
        "installing the package with dpkg needs root (the tests run as root here and in CI)"
    );
    let deb = deb();
    let work = tempfile::tempdir().unwrap();
    let older = with_version(&deb, "0.0.1-1", work.path());
    let newer = with_version(&deb, "99.0.0-1", work.path());
    let root = work.path().join("root");
    for d in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let r = |p: &str| root.join(p);
    let install = |d: &Path| dpkg(&root, &["-i".as_ref(), d.as_os_str()]);

    // First install: user, directories, modes, the unit enabled.
    install(&older);
    let users = ids(&root, "etc/passwd");
    let groups = ids(&root, "etc/group");
    let (uid, user) = users.get("flexsecure").expect("user flexsecure").clone();
    let (gid, _) = groups.get("flexsecure").expect("group flexsecure").clone();
    assert!(
        user.ends_with(":/var/lib/flexsecure:/usr/sbin/nologin"),
        "{user}"
    );
    let dialout = &groups.get("dialout").expect("group dialout").1;
    assert!(dialout.ends_with(":flexsecure"), "{dialout}");
    assert_eq!(owner_mode(&r("etc/flexsecure")), (0, gid, 0o750));
    assert_eq!(
        owner_mode(&r("etc/flexsecure/flexsecure.toml")),
        (0, gid, 0o640)
    );
    assert_eq!(owner_mode(&r("var/lib/flexsecure")), (uid, gid, 0o700));
    assert_eq!(owner_mode(&r("var/log/flexsecure")), (uid, gid, 0o750));
    let wants = r("etc/systemd/system/multi-user.target.wants/flexsecure.service");
    assert_eq!(
        std::fs::read_link(&wants).unwrap(),
        Path::new("/lib/systemd/system/flexsecure.service")
    );
    assert!(r("lib/udev/rules.d/99-flexsecure-modems.rules").is_file());
    assert!(r("usr/bin/flexsecure").is_file());

    // Upgrade: the data and the admin's config survive.
    std::fs::write(r("var/lib/flexsecure/flexsecure.db"), "data").unwrap();
    let conf = r("etc/flexsecure/flexsecure.toml");
    let edited = read(&conf).replace("127.0.0.1:8080", "0.0.0.0:8443");
    std::fs::write(&conf, &edited).unwrap();
    let said = install(&deb);
    assert!(!said.contains("downgraded"), "{said}");
    assert_eq!(read(&r("var/lib/flexsecure/flexsecure.db")), "data");
    assert_eq!(read(&conf), edited);
    assert_eq!(owner_mode(&conf), (0, gid, 0o640));

    // Downgrade: installed, with a warning that the service will refuse the database.
    install(&newer);
    let said = install(&deb);
    assert!(said.contains("downgraded from 99.0.0-1"), "{said}");

    // Remove: the program goes, data, config, logs and user stay; the unit is masked.
    dpkg(&root, &["-r".as_ref(), "flexsecure".as_ref()]);
    assert!(!r("usr/bin/flexsecure").exists());
    assert!(!r("lib/systemd/system/flexsecure.service").exists());
    assert_eq!(read(&r("var/lib/flexsecure/flexsecure.db")), "data");
    assert_eq!(read(&conf), edited);
    assert!(r("var/log/flexsecure").is_dir());

    // Purge: data, logs, config and the unit's links go; the user stays.
    dpkg(&root, &["-P".as_ref(), "flexsecure".as_ref()]);
    for gone in [
        "var/lib/flexsecure",
        "var/log/flexsecure",
        "etc/flexsecure",
        "etc/systemd/system/multi-user.target.wants/flexsecure.service",
        "etc/systemd/system/flexsecure.service",
    ] {
        assert!(
            std::fs::symlink_metadata(r(gone)).is_err(),
            "{gone} left after purge"
        );
    }
    assert!(ids(&root, "etc/passwd").contains_key("flexsecure"));
}

// ------------------------------------------------------ the example config

fn check_config(file: &Path) -> serde_json::Value {
    let out = ok(
        Command::new(BIN)
            .args(["check-config", "--json", "--config"])
            .arg(file)
            .env_clear(),
        "flexsecure",
    );
    serde_json::from_str(&out).unwrap()
}

#[test]
fn example_config_passes_check_config_as_shipped_and_with_every_setting() {
    let example = repo("packaging/flexsecure.toml");
    let v = check_config(&example);
    assert_eq!(v["listen"], "127.0.0.1:8080", "loopback by default: {v}");
    assert_eq!(
        v["data_dir"], "/var/lib/flexsecure",
        "the unit's StateDirectory: {v}"
    );
    assert_eq!(
        v["sms_console_path"], "/var/log/flexsecure/sms.jsonl",
        "{v}"
    );

    // Every `#key = value` and `#[table]` line uncommented: the documented
    // settings are real keys with valid values (unknown keys are errors).
    let all: String = read(&example)
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let commented = read(&example)
        .lines()
        .filter(|l| l.starts_with('#') && !l.starts_with("# ") && l != &"#")
        .count();
    assert!(commented > 30, "only {commented} settings to uncomment");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("all.toml");
    std::fs::write(&file, all).unwrap();
    let v = check_config(&file);
    assert_eq!(v["public_url"], "https://auth.example.com", "{v}");
}
