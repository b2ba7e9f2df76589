package com.example.reports;

import java.math.BigDecimal;
import java.util.Formatter;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The totals per region, as a fixed-width text table. */
public class Summary {

    public String render(List<Sale> sales) {
        Map<String, BigDecimal> totals = new TreeMap<>();
        for (Sale sale : sales) {
            totals.merge(sale.region(), sale.amount(), BigDecimal::add);
        }
        StringBuilder text = new StringBuilder();
        try (Formatter table = new Formatter(text)) {
            totals.forEach((region, total) -> table.format("%-12s %10.2f%n", region, total));
        }
        return text.toString();
    }
}
