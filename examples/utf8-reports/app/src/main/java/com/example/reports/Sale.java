package com.example.reports;

import java.math.BigDecimal;

/** One line of the sales ledger. */
public record Sale(String region, String product, BigDecimal amount) {
}
