//! Lint of tool definitions for known attacks: hidden instructions, invisible or
//! bidirectional Unicode, ANSI escapes, references to secret files, descriptions naming other
//! servers' tools, one name from two servers.
