//! Prints the SQL Server → PostgreSQL type mapping as Markdown (the README shows it).
fn main() {
    print!("{}", bak2pg::typemap::markdown_table());
}
