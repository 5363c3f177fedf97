//! Everything ClickHouse (the "store" and "report" steps of the pipeline).
//!
//! Owns: migrations tiered by server version, row types, the batched writer with retry and disk
//! spool, and the report queries. Must never: reach back into decoding or aggregation.
