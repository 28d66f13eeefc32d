//! burrow-nic (see the library).
fn main() {
    burrow_nic::main()
}
