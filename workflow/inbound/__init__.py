"""Inbound mail: the IMAP mailbox and saved messages read once, matched to our letters."""
