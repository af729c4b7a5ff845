"""Double-entry journal: every money movement is an entry; balances come from postings."""
