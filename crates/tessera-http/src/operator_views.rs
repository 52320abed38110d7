//! The operator's pages as typed views, one per template: the migration console (at a
//! glance, the chart, the list), partner applications with the approval confirmation,
//! signing keys, and users. Every operator page shows the same tab bar
//! (`dashboard_operator_tabs_partial.html`), which `tab` marks.

use askama::Template;
use tessera_core::legacy::chart::UsageChart;

use crate::views::{AppRow, Nav};

/// A number of credentials and its share of all of them.
pub struct Share {
    pub count: u64,
    pub percent: u64,
}

/// The migration at a glance.
pub struct Glance {
    pub total: u64,
    pub active: Share,
    pub migrated: Share,
    pub removed: Share,
    pub basic_day: Share,
    pub basic_week: Share,
    pub migrated_unused: Share,
    /// "14 Jan 2027 00:00 UTC", and the whole days left; `None`: no sunset configured.
    pub sunset: Option<(String, i64)>,
    /// The brownout in progress or the next one: start, end, days until it starts (0
    /// when it has), and whether it is on now.
    pub brownout: Option<Brownout>,
}

pub struct Brownout {
    pub starts: String,
    pub ends: String,
    pub days: i64,
    pub now: bool,
}

/// One credential of the console's list.
pub struct ConsoleRow {
    pub email: String,
    pub account: String,
    pub account_name: String,
    pub external_id: Option<String>,
    pub state: String,
    pub last_used: String,
    pub day: i64,
    pub week: i64,
    pub client_used: String,
}

/// A link of the pager.
pub struct PageLink {
    pub label: String,
    pub href: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "dashboard_operator.html")]
pub struct ConsoleView {
    pub nav: Nav,
    pub tab: &'static str,
    pub glance: Glance,
    pub chart: UsageChart,
    pub rows: Vec<ConsoleRow>,
    /// The list's controls as submitted (the search as typed).
    pub q: String,
    pub state: String,
    pub basic: bool,
    pub sort: String,
    /// `(value, label)` of each sort.
    pub sorts: Vec<(&'static str, &'static str)>,
    pub total: u64,
    pub first_row: u64,
    pub last_row: u64,
    pub page: u32,
    pub pages: u32,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
    pub page_links: Vec<PageLink>,
    pub csv_href: String,
}

#[derive(Template)]
#[template(path = "dashboard_operator_apps.html")]
pub struct OperatorAppsView {
    pub nav: Nav,
    pub tab: &'static str,
    pub apps: Vec<AppRow>,
}

/// A partner application as the approval confirmation shows it.
#[derive(Template)]
#[template(path = "dashboard_operator_approve.html")]
pub struct ApproveView {
    pub nav: Nav,
    pub id: String,
    pub name: String,
    pub approve: bool,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    /// The API account that registered it, as "name (id)"; `None`: an operator did.
    pub owner: Option<String>,
    pub public: bool,
    pub pkce_required: bool,
    pub status: String,
}

/// One user of the operator's Users page.
pub struct UserRow {
    pub id: String,
    pub email: String,
    /// Empty when the operator gave none.
    pub name: String,
    pub operator: bool,
    /// How many API accounts they may act on.
    pub accounts: usize,
    pub created: String,
    /// Since when, if disabled.
    pub disabled: Option<String>,
    /// The operator looking at the page: never offered "Disable".
    pub is_you: bool,
}

#[derive(Template)]
#[template(path = "dashboard_operator_users.html")]
pub struct OperatorUsersView {
    pub nav: Nav,
    pub tab: &'static str,
    pub users: Vec<UserRow>,
}

pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub activates: String,
}

#[derive(Template)]
#[template(path = "dashboard_operator_keys.html")]
pub struct OperatorKeysView {
    pub nav: Nav,
    pub tab: &'static str,
    pub keys: Vec<KeyRow>,
}
