//! `cargo run --release --example unpack -- LAYER DEST`: unpacks one layer (tar, maybe
//! compressed) into DEST (created) and prints the time and the report's counts. For
//! comparing with `tar -x` of the same file.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(layer), Some(dest)) = (args.get(1), args.get(2)) else {
        return Err("usage: unpack LAYER DEST".into());
    };
    std::fs::create_dir_all(dest)?;
    let t = Instant::now();
    let f = std::io::BufReader::new(std::fs::File::open(layer)?);
    let r = burrow_image::unpack::unpack(f, dest.as_ref(), &Default::default())?;
    println!(
        "{:.3} s, {} entries, {} devices skipped, diff-id {}",
        t.elapsed().as_secs_f64(),
        r.entries,
        r.devices_skipped,
        r.diff_id.map(|d| d.to_string()).unwrap_or_default()
    );
    Ok(())
}
