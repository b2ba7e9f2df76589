package com.example.inventory.service;

/**
 * No product has the requested SKU. Checked, so the container hands it to the caller unchanged
 * instead of wrapping it and rolling the transaction back.
 */
public class ProductNotFoundException extends Exception {

    private static final long serialVersionUID = 1L;

    public ProductNotFoundException(String sku) {
        super("No product with SKU " + sku);
    }
}
