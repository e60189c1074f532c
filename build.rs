//! Rebuild when a migration is added: `embed_migrations!` reads the migrations directories at
//! compile time, and cargo would otherwise only notice changes to files it already embedded.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
