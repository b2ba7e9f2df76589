package com.example.inventory.model;

/**
 * How much of a product is left, as shown in the shop front.
 */
public enum StockLevel {
    OUT_OF_STOCK,
    LOW,
    AVAILABLE;

    /** Below this many units the shop front shows "only a few left". */
    public static final int LOW_THRESHOLD = 5;

    public static StockLevel of(int quantity) {
        if (quantity <= 0) {
            return OUT_OF_STOCK;
        }
        return quantity < LOW_THRESHOLD ? LOW : AVAILABLE;
    }
}
