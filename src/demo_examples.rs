//! The example projects `preflight demo` rehearses, built into the binary so the demo
//! needs nothing but itself: plain SQL migrations (`examples/migrations`), and the
//! alembic and Django projects (`examples/alembic`, `examples/django`) that command mode
//! runs with their own tools in the tools image.

/// Which example the demo rehearses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Example {
    /// Numbered SQL files, run the way psql runs them.
    Sql,
    /// An alembic project: `alembic upgrade` to each revision.
    Alembic,
    /// A Django project: `manage.py migrate` to each migration.
    Django,
}

macro_rules! files {
    ($dir:literal: $($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../examples/", $dir, "/", $path)))),*]
    };
}

const SQL: &[(&str, &str)] = files!("migrations":
    "0001_create_audit_log.sql",
    "0002_index_accounts_plan.sql",
    "0003_backfill_orders_total.sql",
    "0004_unique_account_email.sql",
);

const ALEMBIC: &[(&str, &str)] = files!("alembic":
    "alembic.ini",
    "migrations/env.py",
    "migrations/script.py.mako",
    "migrations/versions/a1b2c3d4e5f6_add_account_nickname.py",
    "migrations/versions/b2c3d4e5f6a7_index_orders_by_account.py",
);

const DJANGO: &[(&str, &str)] = files!("django":
    "manage.py",
    "shopsite/__init__.py",
    "shopsite/settings.py",
    "shop/__init__.py",
    "shop/models.py",
    "shop/migrations/__init__.py",
    "shop/migrations/0001_coupon.py",
    "shop/migrations/0002_coupon_expires_at.py",
);

impl Example {
    /// Its files, with paths from the repository's root.
    pub fn files(self) -> Vec<(String, &'static str)> {
        match self {
            Example::Sql => SQL
                .iter()
                .map(|(p, t)| (format!("migrations/{p}"), *t))
                .collect(),
            Example::Alembic => ALEMBIC.iter().map(|(p, t)| (p.to_string(), *t)).collect(),
            Example::Django => DJANGO.iter().map(|(p, t)| (p.to_string(), *t)).collect(),
        }
    }

    /// The directory whose files are the migrations.
    pub fn migrations_dir(self) -> &'static str {
        match self {
            Example::Sql => "migrations",
            Example::Alembic => "migrations/versions",
            Example::Django => "shop/migrations",
        }
    }

    /// How many migrations it has.
    pub fn migrations(self) -> usize {
        self.files()
            .iter()
            .filter(|(p, _)| {
                p.starts_with(self.migrations_dir())
                    && (p.ends_with(".sql") || (p.ends_with(".py") && !p.ends_with("__init__.py")))
                    && !p.ends_with("env.py")
            })
            .count()
    }

    /// Command mode for the tool examples.
    pub fn command(self, image: &str) -> Option<crate::config::sections::CommandSection> {
        use crate::config::sections::CommandSection;
        use crate::model::tool::CommandTool;
        let (tool, app) = match self {
            Example::Sql => return None,
            Example::Alembic => (CommandTool::Alembic, None),
            Example::Django => (CommandTool::Django, Some("shop".to_string())),
        };
        Some(CommandSection {
            tool,
            image: image.to_string(),
            project: ".".into(),
            app,
        })
    }
}
