//! Local storage helpers: `bpf_get_local_storage` (cgroup storage), `bpf_sk_storage_get`
//! and `bpf_sk_storage_delete` (socket storage, net/core/bpf_sk_storage.c).

use super::maps::{map_arg, EINVAL};
use super::{reg, ArgKind as A, HelperError, HelperRegistry, RetKind as R};
use crate::interp::HelperCtx;
use crate::maps::MapType;

/// `BPF_SK_STORAGE_GET_F_CREATE`.
pub const BPF_SK_STORAGE_GET_F_CREATE: u64 = 1;
/// `ENOENT` as a helper return value.
const ENOENT: u64 = -2i64 as u64;

/// The storage pointer of `key` in `map`, registering the storage with the run when it is
/// created now; 0 when absent.
fn storage(
    c: &mut HelperCtx<'_, '_>,
    map: &crate::maps::MapRef,
    key: &[u8],
    create: bool,
    init: Option<&[u8]>,
) -> Result<u64, HelperError> {
    let cpu = c.env().cpu;
    match map.local_storage(key, cpu, create, init) {
        Ok(Some((p, region))) => {
            if let Some(r) = region {
                if !c.is_accessible(r.start(), r.len() as usize, true) {
                    // SAFETY: the storage's memory belongs to the map, which the run's map
                    // table keeps alive.
                    unsafe { c.add_region(r) };
                }
            }
            Ok(p as u64)
        }
        Ok(None) | Err(_) => Ok(0),
    }
}

/// The cgroup storage key of the run's cgroup: its id, and the attach type for 16-byte keys.
pub fn cgroup_key(env: &crate::env::Env, key_size: u32) -> Vec<u8> {
    let mut key = env.cgroup_id.to_ne_bytes().to_vec();
    if key_size == 16 {
        key.extend_from_slice(&env.cgroup_attach_type.to_ne_bytes());
        key.extend_from_slice(&[0; 4]);
    }
    key
}

/// The socket handle a program's socket pointer names, if it is a full socket.
fn sock_key(c: &mut HelperCtx<'_, '_>, sk: u64) -> Option<[u8; 4]> {
    let sockets = &c.env().net.sockets;
    let h = sockets.handle_of(sk)?;
    sockets
        .get(h)
        .filter(|s| s.is_full())
        .map(|_| h.to_ne_bytes())
}

/// Registers the local storage helpers.
pub(crate) fn register(r: &mut HelperRegistry) {
    // bpf_get_local_storage(map, flags): the storage of the run's cgroup (and attach type,
    // for 16-byte keys), which the kernel creates when the program is attached.
    reg(
        r,
        81,
        "bpf_get_local_storage",
        R::PtrToMapValueOrNull,
        &[A::ConstMapPtr, A::Anything],
        |c, a| {
            let map = map_arg(c, a[0])?;
            if !matches!(
                map.map_type(),
                MapType::CgroupStorage | MapType::PercpuCgroupStorage
            ) {
                return Err(HelperError::Message(format!(
                    "{} is not a cgroup storage map",
                    map.name()
                )));
            }
            let key = cgroup_key(c.env(), map.key_size());
            storage(c, &map, &key, true, None)
        },
    );
    reg(
        r,
        107,
        "bpf_sk_storage_get",
        R::PtrToMapValueOrNull,
        &[
            A::ConstMapPtr,
            A::Anything,
            A::PtrToStackOrNull,
            A::Anything,
        ],
        |c, a| {
            let map = map_arg(c, a[0])?;
            if a[3] > BPF_SK_STORAGE_GET_F_CREATE {
                return Ok(0);
            }
            let Some(key) = sock_key(c, a[1]) else {
                return Ok(0);
            };
            let init = if a[2] != 0 && a[3] == BPF_SK_STORAGE_GET_F_CREATE {
                Some(c.read(a[2], map.value_size() as usize)?)
            } else {
                None
            };
            storage(
                c,
                &map,
                &key,
                a[3] == BPF_SK_STORAGE_GET_F_CREATE,
                init.as_deref(),
            )
        },
    );
    reg(
        r,
        108,
        "bpf_sk_storage_delete",
        R::Integer,
        &[A::ConstMapPtr, A::Anything],
        |c, a| {
            let map = map_arg(c, a[0])?;
            if a[1] == 0 {
                return Ok(EINVAL);
            }
            let Some(key) = sock_key(c, a[1]) else {
                return Ok(ENOENT);
            };
            Ok(match map.delete_elem(&key) {
                Ok(()) => 0,
                Err(e) => e.helper_ret() as u64,
            })
        },
    );
}
