/*
 * Copyright 2019 Example Corp. and/or its affiliates.
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */
package com.example.inventory.model;

import java.io.Serializable;
import java.math.BigDecimal;
import java.time.Instant;

import javax.persistence.*;

/**
 * A product kept in stock, one row per SKU.
 */
@Entity
@Table(name = "PRODUCT", uniqueConstraints = @UniqueConstraint(columnNames = "SKU"))
public class Product implements Serializable {

    private static final long serialVersionUID = 1L;

    @Id
    @GeneratedValue
    private Long id;

    @Column(name = "SKU", nullable = false, length = 32)
    private String sku;

    private String name;

    private BigDecimal price;

    private int quantity;

    @Enumerated(EnumType.STRING)
    private StockLevel stockLevel = StockLevel.OUT_OF_STOCK;

    private Instant lastAdjusted;

    public Long getId() {
        return id;
    }

    public String getSku() {
        return sku;
    }

    public void setSku(String sku) {
        this.sku = sku;
    }

    public String getName() {
        return name;
    }

    public void setName(String name) {
        this.name = name;
    }

    public BigDecimal getPrice() {
        return price;
    }

    public void setPrice(BigDecimal price) {
        this.price = price;
    }

    public int getQuantity() {
        return quantity;
    }

    public void setQuantity(int quantity) {
        this.quantity = quantity;
    }

    public StockLevel getStockLevel() {
        return stockLevel;
    }

    public void setStockLevel(StockLevel stockLevel) {
        this.stockLevel = stockLevel;
    }

    public Instant getLastAdjusted() {
        return lastAdjusted;
    }

    public void setLastAdjusted(Instant lastAdjusted) {
        this.lastAdjusted = lastAdjusted;
    }
}
