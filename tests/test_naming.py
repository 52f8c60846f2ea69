"""spark_name: the column names Spark gives unaliased SELECT expressions, on cases from Spark's SQL golden files
(/work/shared/spark-sql-tests/results, the schema line of each block; the file is named beside each case)."""

from __future__ import annotations

import pytest
import sqlglot

from dagster_dbload.local.naming import spark_name

CASES = [
    # literals: bare values, typed literals by their value, datetime literals as Spark prints them
    ("1", "1"),  # literals.sql.out
    ("'a'", "a"),  # literals.sql.out
    ("1e10", "1.0E10"),  # literals.sql.out
    ("endsWith(x'537061726b2053514c', x'537061726b')", "endswith(X'537061726B2053514C', X'537061726B')"),  # string-functions.sql.out
    ("round(25Y, 1)", "round(25, 1)"),  # math.sql.out
    ("bit_count(1S)", "bit_count(1)"),  # bitwise.sql.out
    ("make_timestamp(2021, 07, 11, 6, 30, 45.678)", "make_timestamp(2021, 7, 11, 6, 30, 45.678)"),  # timestamp.sql.out
    ("date '2019-01-01\\t'", "DATE '2019-01-01'"),  # date.sql.out
    ("next_day(timestamp_ntz\"2015-07-23 12:12:12\", \"Mon\")", "next_day(TIMESTAMP_NTZ '2015-07-23 12:12:12', Mon)"),  # date.sql.out
    ("timestamp_ntz'2020-01-01 00:00:00.123456789'::timestamp_ntz(7)",
     "CAST(TIMESTAMP_NTZ '2020-01-01 00:00:00.123456789' AS TIMESTAMP_NTZ(7))"),  # cast.sql.out
    ("interval 3 year 1 month", "INTERVAL '3-1' YEAR TO MONTH"),  # interval.sql.out
    ("interval 2 weeks 3 microseconds * 1.5", "(INTERVAL '14 00:00:00.000003' DAY TO SECOND * 1.5)"),  # interval.sql.out
    ("INTERVAL '1' DAY > INTERVAL '1' HOUR", "(INTERVAL '1' DAY > INTERVAL '01' HOUR)"),  # interval.sql.out
    # operators: parenthesized, != as NOT (=), <=>, IN, LIKE, ILIKE as a call
    ("cast(1 as decimal(3, 0)) > cast(1 as decimal(10, 0))",
     "(CAST(1 AS DECIMAL(3,0)) > CAST(1 AS DECIMAL(10,0)))"),  # typeCoercion/native/decimalPrecision.sql.out
    ("cast(1 as decimal(3, 0)) <> cast(1 as smallint)",
     "(NOT (CAST(1 AS DECIMAL(3,0)) = CAST(1 AS SMALLINT)))"),  # typeCoercion/native/decimalPrecision.sql.out
    ("cast(1 as int) <=> cast(1 as decimal(10, 0))",
     "(CAST(1 AS INT) <=> CAST(1 AS DECIMAL(10,0)))"),  # typeCoercion/native/binaryComparison.sql.out
    ("cast(1 as int) in (cast(1 as int), cast(1 as bigint))",
     "(CAST(1 AS INT) IN (CAST(1 AS INT), CAST(1 AS BIGINT)))"),  # typeCoercion/native/inConversion.sql.out
    ("'hello' not like 'world'", "(NOT hello LIKE world)"),  # predicate-functions.sql.out
    ("'Addb' ilike 'A%$%b' escape '$'", "ilike(Addb, A%$%b)"),  # ilike.sql.out
    ("20181117 >> 2", "(20181117 >> 2)"),  # bitwise.sql.out
    ("x'00' < x'0f'", "(X'00' < X'0F')"),  # comparator.sql.out
    # conditionals
    ("if(1 != 1, 1/0, 1)", "(IF((NOT (1 = 1)), (1 / 0), 1))"),  # conditional-functions.sql.out
    ("case when 1 < 2 then 1 else 1/0 end", "CASE WHEN (1 < 2) THEN 1 ELSE (1 / 0) END"),  # conditional-functions.sql.out
    # calls: Spark's names, the aliases it keeps, the arguments it shows though left out
    ("ifnull(1, 2.1)", "ifnull(1, 2.1)"),  # typeCoercion/native/implicitTypeCasts.sql.out
    ("len(col)", "len(col)"),  # listagg.sql.out (sqlglot reads it as exp.Length)
    ("regexp_extract('1a 2b 14m', '(\\\\d+)([a-z]+)')", "regexp_extract(1a 2b 14m, (\\d+)([a-z]+), 1)"),  # regexp-functions.sql.out
    ("datediff(SECOND, timestamp'2022-02-25 01:02:03', timestamp'2022-02-25 01:03:01')",
     "timestampdiff(SECOND, TIMESTAMP '2022-02-25 01:02:03', TIMESTAMP '2022-02-25 01:03:01')"),  # date.sql.out
    ("dateadd(WEEK, -4, timestamp'2022-02-25 01:02:03')",
     "timestampadd(WEEK, -4, TIMESTAMP '2022-02-25 01:02:03')"),  # date.sql.out
    ("date_sub('2011-11-11', 1)", "date_sub(2011-11-11, 1)"),  # date.sql.out
    ("to_date(\"16\", \"dd\")", "to_date(16, dd)"),  # date.sql.out
    ("date '2001-09-28' + 7Y", "date_add(DATE '2001-09-28', 7)"),  # date.sql.out
    ("CEIL(2.5, 0)", "ceil(2.5, 0)"),  # ceil-floor-with-scale-param.sql.out
    ("floor(0.01)", "FLOOR(0.01)"),  # math.sql.out
    ("to_varchar(78.12, '$99.99')", "to_char(78.12, $99.99)"),  # charvarchar.sql.out
    ("schema_of_csv('1|abc', map('delimiter', '|'))", "schema_of_csv(1|abc)"),  # csv-functions.sql.out
    ("array_append(CAST(null AS ARRAY<String>), 'a')", "array_append(NULL, a)"),  # array.sql.out
    ("'aaa' collate utf8_binary = 'AAA' collate utf8_binary",
     "(collate(aaa, utf8_binary) = collate(AAA, utf8_binary))"),  # collations-basic.sql.out
    ("CAST('Spark' as BINARY)", "CAST(Spark AS BINARY)"),  # binary.sql.out
    # aggregates, windows, subqueries
    ("count(*)", "count(1)"),  # count.sql.out
    ("count(DISTINCT 3,2)", "count(DISTINCT 3, 2)"),  # count.sql.out
    ("mode() WITHIN GROUP (ORDER BY col)", "mode() WITHIN GROUP (ORDER BY col DESC)"),  # mode.sql.out
    ("count(val) OVER(PARTITION BY cate ORDER BY val RANGE 1 PRECEDING)",
     "count(val) OVER (PARTITION BY cate ORDER BY val ASC NULLS FIRST RANGE BETWEEN 1 PRECEDING AND CURRENT ROW)"),  # window.sql.out
    ("sum(val) OVER(PARTITION BY cate ORDER BY val ROWS BETWEEN UNBOUNDED PRECEDING AND 1 FOLLOWING)",
     "sum(val) OVER (PARTITION BY cate ORDER BY val ASC NULLS FIRST ROWS BETWEEN UNBOUNDED PRECEDING AND 1 FOLLOWING)"),  # window.sql.out
    ("(select concat_ws(' ', utf8_lcase, utf8_lcase) from t1 limit 1)", "scalarsubquery()"),  # collations-aliases.sql.out
    ("from_json('{\"a\":1, \"b\":2}', 'map<string, int>')", "entries"),  # json-functions.sql.out
]  # fmt: skip


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[sql for sql, _ in CASES])
def test_spark_name(sql: str, expected: str) -> None:
    assert spark_name(sqlglot.parse_one("SELECT " + sql, read="databricks").expressions[0]) == expected


def test_timestamp_literal_with_an_offset_shows_in_the_session_time_zone() -> None:
    projection = sqlglot.parse_one("SELECT unix_micros(timestamp'2020-12-01 14:30:08Z')", read="databricks")
    # date.sql.out, where the suite's session time zone is America/Los_Angeles
    expected = "unix_micros(TIMESTAMP '2020-12-01 06:30:08')"
    assert spark_name(projection.expressions[0], time_zone="America/Los_Angeles") == expected


def test_cast_of_a_column_keeps_the_column_name() -> None:
    projection = sqlglot.parse_one("SELECT cast(c7 as char(1)) FROM char_tbl4", read="databricks")
    assert spark_name(projection.expressions[0]) == "c7"  # charvarchar.sql.out
