package com.example.inventory.rest;

/**
 * Body of POST /api/products/{sku}/adjustments: a signed change of the quantity in stock.
 */
public class StockAdjustment {

    private int delta;

    private String reason;

    public int getDelta() {
        return delta;
    }

    public void setDelta(int delta) {
        this.delta = delta;
    }

    public String getReason() {
        return reason;
    }

    public void setReason(String reason) {
        this.reason = reason;
    }
}
