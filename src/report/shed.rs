//! Keeping the MR note within its size budget: the public summary sheds detail one
//! piece at a time, largest kinds first, until the rendered note fits (the full report
//! keeps everything).

use super::public::{PublicMigration, PublicSummary};

impl PublicSummary {
    /// Leaves out the next piece of detail to shrink the note, largest kinds first: a
    /// migration's statement table (the last first), then lock rows, then findings
    /// beyond the first few, then the migration rows beyond the first few. False when
    /// nothing is left to drop.
    pub fn shed(&mut self) -> bool {
        const KEEP: usize = 5;
        let shed = self.shed_migration_detail(|m| &mut m.statements)
            || self.shed_migration_detail(|m| &mut m.locks)
            || self.shed_migration_detail(|m| &mut m.statement_times)
            || match self
                .databases
                .iter_mut()
                .rev()
                .find(|d| d.findings.len() > KEEP)
            {
                Some(d) => {
                    d.findings.pop();
                    d.findings_cut += 1;
                    true
                }
                None => false,
            }
            || match self
                .databases
                .iter_mut()
                .rev()
                .find(|d| d.migrations.len() > KEEP)
            {
                Some(d) => {
                    d.migrations.pop();
                    d.migrations_cut += 1;
                    true
                }
                None => false,
            };
        self.trimmed |= shed;
        shed
    }

    /// Empties one migration's list (the last migration that has one).
    fn shed_migration_detail<T>(
        &mut self,
        list: impl Fn(&mut PublicMigration) -> &mut Vec<T>,
    ) -> bool {
        let last = self
            .databases
            .iter_mut()
            .rev()
            .flat_map(|d| d.migrations.iter_mut().rev())
            .map(list)
            .find(|l| !l.is_empty());
        match last {
            Some(l) => {
                l.clear();
                true
            }
            None => false,
        }
    }
}
