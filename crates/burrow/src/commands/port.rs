//! `burrow port NAME [PRIVATE_PORT[/PROTO]]`: a container's published ports, podman's lines.

use super::Res;

pub fn port(name: &str, private: Option<&str>) -> Res {
    for l in burrow_runtime::lifecycle::port(name, private)? {
        println!("{l}");
    }
    Ok(0)
}
