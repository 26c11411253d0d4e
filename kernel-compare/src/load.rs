//! Loading a loader [`Object`] into the running kernel, as libbpf would: its BTF, every map
//! with the same spec (global data filled, `.rodata` frozen, map-in-map and program-array
//! initialisers bound), and each program with its type, expected attach type and flags,
//! map-index references bound through `fd_array`.
//!
//! Per program we record the verdict, errno, the full verifier log, the statistics of log
//! level 4 and the sizes of the translated and JIT images.

use std::collections::{BTreeSet, HashSet};
use std::os::fd::RawFd;
use std::path::Path;

use bpfbox_btf::{Btf, Kind};
use bpfbox_loader::elf::ElfFile;
use bpfbox_loader::{MapSlot, Object};
use bpfbox_vm::maps::spec::{MapSpec, MapType};
use bpfbox_vm::{ProgType, Program};

use crate::btf_fixup;
use crate::error::{Error, Result};
use crate::struct_ops;
use crate::sys::{self, BpfFuncInfo, BpfLineInfo, Fd, MapCreate, ProgLoad};
use crate::verifier_log::error_line;
pub use crate::verifier_log::VerifierStats;

use bpfbox_vm::attach::{
    LSM_MAC, MODIFY_RETURN, TRACE_FENTRY, TRACE_FEXIT, TRACE_ITER, TRACE_RAW_TP,
};

/// What the kernel said about one program.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The verifier accepted it.
    Accepted,
    /// The kernel refused it (errno in [`ProgramLoad::errno`], reason in the log).
    Rejected,
    /// The kernel would not judge it here (for instance trampoline programs this kernel
    /// refuses with `EPERM` before verifying, or a missing attach target).
    CannotSay,
    /// We could not build what the kernel needs (the loader's program errors, such as
    /// CO-RE relocations not being supported yet).
    NotLoaded,
}

impl Verdict {
    /// Short form for tables (`success`, `failure`, `n/a`, `not loaded`).
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Accepted => "success",
            Verdict::Rejected => "failure",
            Verdict::CannotSay => "n/a",
            Verdict::NotLoaded => "not loaded",
        }
    }
}

/// The kernel's answer for one program.
#[derive(Debug, serde::Serialize)]
pub struct ProgramLoad {
    /// Program name.
    pub name: String,
    /// ELF section.
    pub section: String,
    /// Program type name (`xdp`, ...), empty when the loader could not build it.
    pub prog_type: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The errno of a refused load.
    pub errno: Option<i32>,
    /// Why the kernel could not say, or why we could not load.
    pub reason: Option<String>,
    /// The full verifier log.
    pub log: String,
    /// Log level 4 statistics.
    pub stats: VerifierStats,
    /// `verified_insns` from the program info.
    pub verified_insns: Option<u32>,
    /// Size of the translated image in bytes.
    pub xlated_len: Option<usize>,
    /// Size of the JIT image in bytes (0 without the JIT).
    pub jited_len: Option<usize>,
    /// The loaded program.
    #[serde(skip)]
    pub fd: Option<Fd>,
}

/// One map created in the kernel.
#[derive(Debug)]
pub struct KernelMap {
    /// The spec it was created from.
    pub spec: MapSpec,
    /// The map, unless creation failed.
    pub fd: Option<Fd>,
    /// Why creation failed.
    pub error: Option<String>,
    /// Whether the map was created with its BTF types.
    pub with_btf: bool,
}

/// Options for [`KernelObject::load`].
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Verifier log level sent with every program, exactly: any combination of
    /// [`sys::BPF_LOG_LEVEL1`] (1, the log), [`sys::BPF_LOG_LEVEL2`] (2, verbose) and
    /// [`sys::BPF_LOG_STATS`] (4, statistics); 0 asks for no log. The default, 4, gives
    /// the statistics and, for a refused program, the verifier's reason, in one load.
    pub log_level: u32,
    /// Log buffer size in bytes. `None`: the buffer grows until the whole log fits (a cut
    /// log is loaded again at the size the kernel reports). `Some(n)`: each program is
    /// loaded once with an `n`-byte buffer, as libbpf does with a caller's buffer, and a
    /// log that does not fit is the kernel's `ENOSPC`.
    pub log_size: Option<usize>,
    /// With `log_level` 0: load a refused program again at level 1 to get the reason, as
    /// libbpf does.
    pub log_on_failure: bool,
    /// With `log_level` 0: load at [`sys::BPF_LOG_STATS`] instead, so that the statistics
    /// line is known, and keep the log as empty as a silent load leaves it (the verifier
    /// decides the same whatever it is asked to log). A refusal is still loaded again at
    /// level 1 when [`LoadOptions::log_on_failure`] is set, as libbpf would.
    pub stats_when_silent: bool,
    /// Program flags OR-ed onto each program's own (see [`crate::flags`]).
    pub prog_flags: u32,
    /// Load only these programs (by name) and the programs they need: every program a
    /// program-array initialiser names. `None`: every program. A name the object does not
    /// have is an [`Error::UnknownProgram`].
    pub programs: Option<BTreeSet<String>>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            log_level: sys::BPF_LOG_STATS,
            log_size: None,
            log_on_failure: false,
            stats_when_silent: false,
            prog_flags: 0,
            programs: None,
        }
    }
}

impl LoadOptions {
    /// Options that load only `names` (and the programs they need).
    pub fn only<I, S>(names: I) -> LoadOptions
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        LoadOptions {
            programs: Some(names.into_iter().map(Into::into).collect()),
            ..LoadOptions::default()
        }
    }
}

/// An object loaded into the kernel. Dropping it closes every descriptor.
#[derive(Debug)]
pub struct KernelObject {
    /// The object's BTF in the kernel, when it loaded.
    pub btf: Option<Fd>,
    /// Why the BTF did not load (the programs then load without it).
    pub btf_error: Option<String>,
    /// Maps, by the object's map index.
    pub maps: Vec<KernelMap>,
    /// Programs, in the object's order, then the programs the loader could not build.
    pub programs: Vec<ProgramLoad>,
}

fn needs_attach_btf(p: &Program) -> bool {
    matches!(
        p.prog_type,
        ProgType::Tracing | ProgType::Lsm | ProgType::Ext | ProgType::StructOps
    )
}

/// Whether the kernel attaches this program through a BPF trampoline.
fn is_trampoline(p: &Program) -> bool {
    match p.prog_type {
        ProgType::Lsm | ProgType::Ext | ProgType::StructOps => true,
        ProgType::Tracing => matches!(
            p.expected_attach_type,
            Some(TRACE_FENTRY | TRACE_FEXIT | MODIFY_RETURN)
        ),
        _ => false,
    }
}

/// The kernel BTF id a tracing or LSM program attaches to.
fn attach_btf_id(vmlinux: Option<&Btf>, p: &Program) -> std::result::Result<u32, String> {
    let target = p
        .attach_target
        .as_deref()
        .ok_or_else(|| format!("section `{}` names no attach target", p.section))?;
    let vmlinux = vmlinux.ok_or("no kernel BTF (/sys/kernel/btf/vmlinux)")?;
    let (name, kind) = match (p.prog_type, p.expected_attach_type) {
        (ProgType::Lsm, _) | (_, Some(LSM_MAC)) => (format!("bpf_lsm_{target}"), Kind::Func),
        (_, Some(TRACE_RAW_TP)) => (format!("btf_trace_{target}"), Kind::Typedef),
        (_, Some(TRACE_ITER)) => (format!("bpf_iter_{target}"), Kind::Func),
        _ => (target.to_string(), Kind::Func),
    };
    vmlinux
        .find_by_name_kind(&name, kind)
        .ok_or_else(|| format!("attach target `{name}` not found in kernel BTF"))
}

fn line_info(p: &Program, strings: &std::collections::HashMap<String, u32>) -> Vec<BpfLineInfo> {
    let mut out = Vec::with_capacity(p.line_info.len());
    for l in &p.line_info {
        let (Some(&file), Some(&line)) = (strings.get(&l.file), strings.get(&l.line)) else {
            // A line we cannot point back into the BTF: send no line records at all.
            return Vec::new();
        };
        out.push(BpfLineInfo {
            insn_off: l.insn_off,
            file_name_off: file,
            line_off: line,
            line_col: (l.line_num << 10) | (l.col & 0x3ff),
        });
    }
    out
}

fn create_map(spec: &MapSpec, btf: Option<&Fd>) -> (Option<Fd>, Option<String>, bool) {
    // What libbpf sends: e.g. a perf event array without max_entries gets one per CPU.
    let Some(ncpus) = crate::probe::possible_cpus() else {
        let why = format!(
            "cannot read the possible CPUs ({})",
            crate::probe::POSSIBLE_CPUS
        );
        return (None, Some(why), false);
    };
    let cfg = bpfbox_vm::maps::MapConfig { ncpus };
    let spec = &bpfbox_loader::libbpf_create_spec(spec, &cfg);
    // The inner template (map-in-map) lives only until the outer map exists.
    let inner = match spec.inner.as_deref() {
        Some(inner) => match sys::map_create(&MapCreate::from(inner)) {
            Ok(fd) => Some(fd),
            Err(e) => return (None, Some(format!("inner map template: {e}")), false),
        },
        None => None,
    };
    let mut attr = MapCreate::from(spec);
    attr.inner_map_fd = inner.as_ref().map(Fd::raw);
    if let (Some(btf), Some(v)) = (btf, spec.btf_value_type_id) {
        let mut with = attr.clone();
        with.btf_fd = Some(btf.raw());
        with.btf_key_type_id = spec.btf_key_type_id.unwrap_or(0);
        with.btf_value_type_id = v;
        if let Ok(fd) = sys::map_create(&with) {
            return (Some(fd), None, true);
        }
        // As libbpf does: retry without BTF.
    }
    match sys::map_create(&attr) {
        Ok(fd) => (Some(fd), None, false),
        Err(e) => (None, Some(e.to_string()), false),
    }
}

impl KernelObject {
    /// Reads, parses and loads an object file.
    pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<(Object, KernelObject)> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let obj = Object::from_file(path)?;
        let k = KernelObject::load_named(&bytes, &obj, opts, &path.display().to_string())?;
        Ok((obj, k))
    }

    /// Loads `obj` (parsed from `bytes`) into the kernel.
    pub fn load(bytes: &[u8], obj: &Object, opts: &LoadOptions) -> Result<KernelObject> {
        Self::load_named(bytes, obj, opts, obj.name())
    }

    /// [`KernelObject::load`], naming the object `object` in errors.
    pub fn load_named(
        bytes: &[u8],
        obj: &Object,
        opts: &LoadOptions,
        object: &str,
    ) -> Result<KernelObject> {
        let wanted = selection(obj, opts.programs.as_ref(), object)?;
        let is_wanted = |name: &str| wanted.as_ref().is_none_or(|w| w.contains(name));
        let elf = ElfFile::parse(bytes)?;
        let (kconfig, kconfig_size) = obj.kconfig_layout();
        let (btf, btf_error, strings) = match btf_fixup::finalize(&elf, kconfig, kconfig_size) {
            Ok(Some(raw)) => {
                let strings = btf_fixup::string_offsets(&raw);
                match sys::btf_load(&raw, 0) {
                    Ok((fd, _)) => (Some(fd), None, strings),
                    Err(_) => {
                        let e = sys::btf_load(&raw, 1).err();
                        let msg = e.map_or_else(String::new, |e| {
                            format!("{e}: {}", e.log.lines().last().unwrap_or(""))
                        });
                        (None, Some(msg), strings)
                    }
                }
            }
            Ok(None) => (None, None, Default::default()),
            Err(e) => (None, Some(e.to_string()), Default::default()),
        };

        let mut maps = Vec::with_capacity(obj.maps().len());
        for spec in obj.maps() {
            let (fd, error, with_btf) = create_map(spec, btf.as_ref());
            maps.push(KernelMap {
                spec: spec.clone(),
                fd,
                error,
                with_btf,
            });
        }
        // Global data, freezing, map-in-map initialisers.
        for (i, m) in maps.iter_mut().enumerate() {
            let (Some(fd), Some(info)) = (m.fd.as_ref(), obj.map_info(i)) else {
                continue;
            };
            let res = (|| {
                if let Some(data) = info.data.as_deref() {
                    sys::map_update(fd, &0u32.to_ne_bytes(), data, 0)?;
                }
                if info.frozen {
                    sys::map_freeze(fd)?;
                }
                Ok::<(), sys::SysError>(())
            })();
            if let Err(e) = res {
                m.error = Some(format!("initial data: {e}"));
            }
        }
        for i in 0..maps.len() {
            let Some(info) = obj.map_info(i) else {
                continue;
            };
            for (key, slot) in info.slots.iter().enumerate() {
                if let Some(MapSlot::Map(j)) = slot {
                    let inner = maps.get(*j).and_then(|m| m.fd.as_ref()).map(Fd::raw);
                    if let (Some(outer), Some(inner)) = (maps[i].fd.as_ref(), inner) {
                        if let Err(e) = sys::map_update(
                            outer,
                            &(key as u32).to_ne_bytes(),
                            &inner.to_ne_bytes(),
                            0,
                        ) {
                            maps[i].error = Some(format!("slot {key}: {e}"));
                        }
                    }
                }
            }
        }
        let fd_array: Vec<RawFd> = maps
            .iter()
            .map(|m| m.fd.as_ref().map_or(-1, Fd::raw))
            .collect();

        let vmlinux = if obj.programs().iter().any(needs_attach_btf) {
            Btf::from_file("/sys/kernel/btf/vmlinux").ok()
        } else {
            None
        };
        let ops_slots = match obj.btf() {
            Some(b)
                if obj
                    .programs()
                    .iter()
                    .any(|p| p.prog_type == ProgType::StructOps) =>
            {
                struct_ops::slots(&elf, b)
            }
            _ => Default::default(),
        };
        let mut programs = Vec::new();
        for p in obj.programs().iter().filter(|p| is_wanted(&p.name)) {
            let missing = bpfbox_loader::maps_used(p)
                .into_iter()
                .find_map(|i| match maps.get(i) {
                    Some(m) if m.fd.is_some() => None,
                    Some(m) => Some(format!(
                        "map `{}` could not be created: {}",
                        m.spec.name,
                        m.error.as_deref().unwrap_or("unknown error")
                    )),
                    None => Some(format!(
                        "refers to map #{i}, which the object does not have"
                    )),
                });
            if let Some(reason) = missing {
                programs.push(not_judged(p, reason));
                continue;
            }
            programs.push(load_program(
                p,
                opts,
                &fd_array,
                btf.as_ref(),
                &strings,
                vmlinux.as_ref(),
                ops_slots.get(&p.name),
            ));
        }
        for e in obj
            .program_errors()
            .iter()
            .filter(|e| is_wanted(e.program()))
        {
            let section = obj
                .program_meta(e.program())
                .and_then(|m| obj.sections().get(m.section_index))
                .map_or_else(String::new, |s| s.name.clone());
            programs.push(ProgramLoad {
                name: e.program().to_string(),
                section,
                prog_type: String::new(),
                verdict: Verdict::NotLoaded,
                errno: None,
                reason: Some(e.to_string()),
                log: String::new(),
                stats: VerifierStats::default(),
                verified_insns: None,
                xlated_len: None,
                jited_len: None,
                fd: None,
            });
        }

        // Program-array initialisers, once the programs exist.
        for slot in obj.program_slots() {
            let prog = programs
                .iter()
                .find(|p| p.name == slot.program)
                .and_then(|p| p.fd.as_ref());
            if let (Some(map), Some(prog)) = (maps.get(slot.map).and_then(|m| m.fd.as_ref()), prog)
            {
                // A failure leaves the slot empty, as a tail call to it would find.
                let _ = sys::map_update(map, &slot.key.to_ne_bytes(), &prog.raw().to_ne_bytes(), 0);
            }
        }
        Ok(KernelObject {
            btf,
            btf_error,
            maps,
            programs,
        })
    }

    /// Loads bare programs (no ELF, no BTF) with maps created from `maps`: map-index
    /// references in the programs index `maps`.
    pub fn from_programs(
        programs: &[Program],
        maps: &[MapSpec],
        opts: &LoadOptions,
    ) -> KernelObject {
        Self::from_programs_frozen(programs, maps, &[], opts)
    }

    /// [`KernelObject::from_programs`], with map `i` filled with `frozen[i]` (element 0)
    /// and frozen before the programs load, as libbpf does with `.rodata`.
    pub fn from_programs_frozen(
        programs: &[Program],
        maps: &[MapSpec],
        frozen: &[Option<Vec<u8>>],
        opts: &LoadOptions,
    ) -> KernelObject {
        let maps: Vec<KernelMap> = maps
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let (fd, mut error, with_btf) = create_map(spec, None);
                if let (Some(fd), Some(Some(data))) = (fd.as_ref(), frozen.get(i)) {
                    let res = sys::map_update(fd, &0u32.to_ne_bytes(), data, 0)
                        .and_then(|()| sys::map_freeze(fd));
                    if let Err(e) = res {
                        error = Some(format!("initial data: {e}"));
                    }
                }
                KernelMap {
                    spec: spec.clone(),
                    fd,
                    error,
                    with_btf,
                }
            })
            .collect();
        let fd_array: Vec<RawFd> = maps
            .iter()
            .map(|m| m.fd.as_ref().map_or(-1, Fd::raw))
            .collect();
        let vmlinux = if programs.iter().any(needs_attach_btf) {
            Btf::from_file("/sys/kernel/btf/vmlinux").ok()
        } else {
            None
        };
        let programs = programs
            .iter()
            .map(|p| {
                load_program(
                    p,
                    opts,
                    &fd_array,
                    None,
                    &Default::default(),
                    vmlinux.as_ref(),
                    None,
                )
            })
            .collect();
        KernelObject {
            btf: None,
            btf_error: None,
            maps,
            programs,
        }
    }

    /// The loaded program named `name`.
    pub fn program(&self, name: &str) -> Option<&ProgramLoad> {
        self.programs.iter().find(|p| p.name == name)
    }
}

/// The programs to load: those asked for and every program a program-array initialiser
/// names (libbpf fills every initialiser of the object, and fails when one names a program
/// it did not load). `None`: all.
fn selection(
    obj: &Object,
    want: Option<&BTreeSet<String>>,
    object: &str,
) -> Result<Option<HashSet<String>>> {
    let Some(want) = want else {
        return Ok(None);
    };
    let available: Vec<String> = obj
        .programs()
        .iter()
        .map(|p| p.name.clone())
        .chain(obj.program_errors().iter().map(|e| e.program().to_string()))
        .collect();
    if let Some(name) = want.iter().find(|n| !available.contains(n)) {
        return Err(Error::UnknownProgram {
            object: object.to_string(),
            name: name.clone(),
            available,
        });
    }
    let mut set: HashSet<String> = want.iter().cloned().collect();
    set.extend(obj.program_slots().into_iter().map(|s| s.program));
    Ok(Some(set))
}

/// A program the kernel is not asked about, and why.
fn not_judged(p: &Program, reason: String) -> ProgramLoad {
    ProgramLoad {
        name: p.name.clone(),
        section: p.section.clone(),
        prog_type: p.prog_type.name().to_string(),
        verdict: Verdict::CannotSay,
        errno: None,
        reason: Some(reason),
        log: String::new(),
        stats: VerifierStats::default(),
        verified_insns: None,
        xlated_len: None,
        jited_len: None,
        fd: None,
    }
}

fn load_program(
    p: &Program,
    opts: &LoadOptions,
    fd_array: &[RawFd],
    btf: Option<&Fd>,
    strings: &std::collections::HashMap<String, u32>,
    vmlinux: Option<&Btf>,
    struct_ops: Option<&struct_ops::Slot>,
) -> ProgramLoad {
    let mut out = ProgramLoad {
        name: p.name.clone(),
        section: p.section.clone(),
        prog_type: p.prog_type.name().to_string(),
        verdict: Verdict::CannotSay,
        errno: None,
        reason: None,
        log: String::new(),
        stats: VerifierStats::default(),
        verified_insns: None,
        xlated_len: None,
        jited_len: None,
        fd: None,
    };
    let mut attach_id = 0;
    let mut expected_attach_type = p.expected_attach_type.unwrap_or(0);
    if p.prog_type == ProgType::StructOps {
        let target = match (struct_ops, vmlinux) {
            (Some(slot), Some(v)) => struct_ops::kernel_target(v, slot),
            (None, _) => Err("no .struct_ops map of the object names this program".into()),
            (_, None) => Err("no kernel BTF (/sys/kernel/btf/vmlinux)".into()),
        };
        match target {
            Ok((id, member)) => {
                attach_id = id;
                expected_attach_type = member;
            }
            Err(r) => {
                out.reason = Some(r);
                return out;
            }
        }
    } else if needs_attach_btf(p) {
        if p.prog_type == ProgType::Ext {
            out.reason = Some("ext programs need a target program to load".into());
            return out;
        }
        match attach_btf_id(vmlinux, p) {
            Ok(id) => attach_id = id,
            Err(r) => {
                out.reason = Some(r);
                return out;
            }
        }
    }
    let func_info: Vec<BpfFuncInfo> = p
        .func_info
        .iter()
        .map(|f| BpfFuncInfo {
            insn_off: f.insn_off,
            type_id: f.type_id,
        })
        .collect();
    let lines = if func_info.is_empty() {
        Vec::new()
    } else {
        line_info(p, strings)
    };
    let req = ProgLoad {
        prog_type: p.prog_type.id(),
        expected_attach_type,
        prog_flags: p.prog_flags | opts.prog_flags,
        insns: &p.insns,
        license: &p.license,
        kern_version: p.kern_version,
        name: &p.name,
        fd_array,
        log_level: if opts.log_level == 0 && opts.stats_when_silent {
            sys::BPF_LOG_STATS
        } else {
            opts.log_level
        },
        log_size: opts.log_size,
        prog_btf_fd: btf.map(Fd::raw),
        func_info: if btf.is_some() { &func_info } else { &[] },
        line_info: if btf.is_some() { &lines } else { &[] },
        attach_btf_id: attach_id,
        attach_fd: None,
    };
    // One load per verdict: at level 4 a refusal's log already holds the reason.
    let mut res = sys::prog_load(&req);
    let mut silent = opts.log_level == 0 && opts.stats_when_silent;
    if let Err(e) = &res {
        if opts.log_level == 0 && opts.log_on_failure && e.errno != libc::EPERM {
            res = sys::prog_load(&ProgLoad {
                log_level: sys::BPF_LOG_LEVEL1,
                ..req.clone()
            });
            silent = false;
        }
    }
    match res {
        Ok(loaded) => {
            out.verdict = Verdict::Accepted;
            out.stats = VerifierStats::parse(&loaded.log);
            out.log = if silent { String::new() } else { loaded.log };
            if let Ok(info) = sys::prog_info(&loaded.fd) {
                out.verified_insns = Some(info.verified_insns);
                out.xlated_len = Some(info.xlated.len());
                out.jited_len = Some(info.jited.len());
            }
            out.fd = Some(loaded.fd);
        }
        Err(e) if e.errno == libc::EPERM && is_trampoline(p) => {
            out.errno = Some(e.errno);
            out.reason =
                Some("this kernel refuses trampoline programs (EPERM) before verifying".into());
            out.log = if silent { String::new() } else { e.log };
        }
        Err(e) => {
            out.verdict = Verdict::Rejected;
            out.errno = Some(e.errno);
            out.stats = VerifierStats::parse(&e.log);
            if silent {
                // A silent load's refusal gives no reason and no log.
                out.log = String::new();
            } else {
                out.reason = error_line(&e.log);
                out.log = e.log;
            }
        }
    }
    out
}

/// Whether the map holds something both sides can list (keys and values by syscall).
pub fn comparable(t: MapType) -> bool {
    matches!(
        t,
        MapType::Array
            | MapType::PercpuArray
            | MapType::Hash
            | MapType::PercpuHash
            | MapType::LruHash
            | MapType::LruPercpuHash
            | MapType::LpmTrie
    )
}
