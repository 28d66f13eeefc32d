//! `burrow start [-a] NAME`.

use super::Res;
use burrow_runtime::{lifecycle, monitor, state::Dir};

pub fn start(attach: bool, name: &str) -> Res {
    // An image container whose overlayfs is refused needs the flattener (burrow-image).
    crate::image_root::install();
    // With -a: what this start prints, from the end of what earlier runs left in the log.
    let from = if attach {
        Some(monitor::LogPos::now(&Dir::open(name)?))
    } else {
        None
    };
    monitor::start(name)?;
    if !attach {
        println!("{name}");
        return Ok(0);
    }
    if Dir::open(name)?.read()?.tty {
        monitor::attach_from(name, from.unwrap_or_default())
    } else {
        lifecycle::logs_since(name, true, from)?;
        let st = Dir::open(name).and_then(|d| d.current());
        Ok(st.ok().and_then(|s| s.exit_code).unwrap_or(0))
    }
}
