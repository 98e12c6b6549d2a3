//! `bak2pg`: the command-line agent.

fn main() -> anyhow::Result<()> {
    Ok(())
}
