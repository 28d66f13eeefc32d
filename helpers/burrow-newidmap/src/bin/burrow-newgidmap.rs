#![forbid(unsafe_code)]
fn main() {
    burrow_newidmap::main(burrow_idmap::IdKind::Gid)
}
