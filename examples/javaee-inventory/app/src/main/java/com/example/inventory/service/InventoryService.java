package com.example.inventory.service;

import java.time.Instant;
import java.util.List;
import java.util.logging.Logger;

import javax.annotation.Resource;
import javax.ejb.SessionContext;
import javax.ejb.Stateless;
import javax.persistence.EntityManager;
import javax.persistence.PersistenceContext;

import com.example.inventory.model.Product;
import com.example.inventory.model.StockLevel;

/**
 * Reads and adjusts stock levels; every public method runs in its own container transaction.
 */
@Stateless
public class InventoryService {

    private static final Logger LOG = Logger.getLogger(InventoryService.class.getName());

    @PersistenceContext(unitName = "inventory")
    private EntityManager em;

    @Resource
    private SessionContext context;

    public List<Product> findAll() {
        return em.createQuery("SELECT p FROM Product p ORDER BY p.sku", Product.class).getResultList();
    }

    public Product findBySku(String sku) throws ProductNotFoundException {
        List<Product> found = em.createQuery("SELECT p FROM Product p WHERE p.sku = :sku", Product.class)
                .setParameter("sku", sku)
                .getResultList();
        if (found.isEmpty()) {
            throw new ProductNotFoundException(sku);
        }
        return found.get(0);
    }

    public Product adjustStock(String sku, int delta, Instant at) throws ProductNotFoundException {
        Product product = findBySku(sku);
        int quantity = product.getQuantity() + delta;
        if (quantity < 0) {
            throw new IllegalArgumentException("Stock of " + sku + " cannot go below zero");
        }
        product.setQuantity(quantity);
        product.setStockLevel(StockLevel.of(quantity));
        product.setLastAdjusted(at);
        String user = context.getCallerIdentity().getName();
        LOG.info(() -> user + " changed the stock of " + sku + " by " + delta);
        return product;
    }
}
