//! Multi-row statements, `INSERT … VALUES (…), (…)` and `… IN ($1, …)`, for writes and
//! reads of thousands of rows: a legacy import, the benchmarks' bulk fixtures. The same
//! SQL on SQLite and PostgreSQL.

/// Parameters per statement, well under SQLite's limit of 32 766 (PostgreSQL's is 65 535).
/// Not more: sqlx's SQLite driver asks SQLite for each parameter's name, which SQLite finds
/// by walking the statement's list of names, so binding costs the square of the parameters
/// per statement. At 5 500 that was half of a bulk load's time; from about 100 to 600 the
/// load takes the same time.
pub(crate) const PARAMETERS_PER_STATEMENT: usize = 256;

/// Rows per statement for a table of `columns` columns.
pub(crate) fn rows_per_statement(columns: usize) -> usize {
    (PARAMETERS_PER_STATEMENT / columns).max(1)
}

/// `INSERT INTO <table (columns)> VALUES ($1, …, $c), ($c+1, …), …` for `rows` rows.
pub(crate) fn insert_statement(table_and_columns: &str, columns: usize, rows: usize) -> String {
    let mut sql = format!("INSERT INTO {table_and_columns} VALUES ");
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * columns + column + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// `($first, $first+1, …)` with `count` parameters, for `column IN …`.
pub(crate) fn parameter_list(first: usize, count: usize) -> String {
    let params: Vec<String> = (first..first + count).map(|n| format!("${n}")).collect();
    format!("({})", params.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_statement_numbers_parameters_row_by_row() {
        assert_eq!(
            insert_statement("t (a, b)", 2, 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            insert_statement("t (a)", 1, 1),
            "INSERT INTO t (a) VALUES ($1)"
        );
    }

    #[test]
    fn parameter_list_starts_where_asked() {
        assert_eq!(parameter_list(1, 3), "($1, $2, $3)");
        assert_eq!(parameter_list(4, 1), "($4)");
    }
}
