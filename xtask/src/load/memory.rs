//! What a held connection costs the kernel, beside what a server's own
//! memory (its RSS, read through `crowd`) shows.

/// What the kernel allocates for each TCP socket, by slab cache: the
/// socket itself (`TCP` for IPv4, as the clients connect to 127.0.0.1),
/// its inode, its open file, and its directory entry. None of it is in
/// the process's resident memory.
const SOCKET_SLABS: [&str; 4] = ["TCP", "sock_inode_cache", "filp", "dentry"];

/// What each TCP socket costs the kernel, from the sizes of its slab
/// objects (`/sys/kernel/slab`, readable by anyone, or `/proc/slabinfo`,
/// root's only). It is per socket, whatever the server's language.
pub fn kernel_memory_per_socket() -> String {
    let sizes: Option<Vec<(&str, u64)>> = SOCKET_SLABS
        .iter()
        .map(|slab| Some((*slab, slab_size(slab)?)))
        .collect();
    match sizes {
        Some(sizes) => {
            let total: u64 = sizes.iter().map(|(_, size)| size).sum();
            let parts: Vec<String> = sizes
                .iter()
                .map(|(slab, size)| format!("{slab} {size} B"))
                .collect();
            format!(
                "kernel memory per socket: at least {:.1} KiB more, not in RSS ({})",
                total as f64 / 1024.0,
                parts.join(", ")
            )
        }
        None => "kernel memory per socket: not readable here (no /sys/kernel/slab or /proc/slabinfo), and not in RSS".to_string(),
    }
}

/// The size in bytes one object of a slab cache takes, padding included.
fn slab_size(slab: &str) -> Option<u64> {
    let from_sys = std::fs::read_to_string(format!("/sys/kernel/slab/{slab}/slab_size"))
        .ok()
        .and_then(|text| text.trim().parse().ok());
    from_sys.or_else(|| {
        // name, active objects, objects, object size, ...
        let slabinfo = std::fs::read_to_string("/proc/slabinfo").ok()?;
        slabinfo.lines().find_map(|line| {
            let mut fields = line.split_whitespace();
            (fields.next()? == slab).then(|| fields.nth(2)?.parse().ok())?
        })
    })
}
